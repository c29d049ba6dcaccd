"""fast mode is exact against autograd per-sample gradients on a tiny random Llama; full mode is the plain gradient."""
import numpy as np
import pytest
import torch

from core.config import FeatureConfig
from core.features.gradients import Batch, Encoded, FastFeaturizer, FullFeaturizer, collate


def tiny_llama(tie: bool = False):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      tie_word_embeddings=tie)
    return LlamaForCausalLM(cfg).eval()


def random_batch(lengths_and_prompts, vocab=97, seed=1):
    rng = np.random.default_rng(seed)
    items = [Encoded(rng.integers(1, vocab, size=n).tolist(), n_prompt=p, truncated=False)
             for n, p in lengths_and_prompts]
    return collate(items, pad_id=0)


def autograd_weight_grads(model, batch: Batch, i: int) -> dict[str, torch.Tensor]:
    """Sample i's gradient of its mean response-token loss, alone and unpadded, by plain autograd."""
    n = int(batch.attention_mask[i].sum())
    ids, labels = batch.input_ids[i:i + 1, :n], batch.labels[i:i + 1, :n]
    for p in model.parameters():
        p.requires_grad_(True)
    model.zero_grad()
    out = model(input_ids=ids, labels=labels)  # HF's loss: mean CE over shifted non-ignored labels
    out.loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
        p.grad = None
    return grads


@pytest.mark.parametrize("fast_blocks", [None, 2])
def test_fast_sketch_equals_kronecker_projection_of_autograd_gradient(fast_blocks):
    model = tiny_llama()
    config = FeatureConfig(model="tiny", mode="fast", dim=16, fast_blocks=fast_blocks, fast_rank=3)
    feat = FastFeaturizer(model, config)
    batch = random_batch([(12, 5), (7, 2), (20, 11)])  # different lengths: padding must not leak
    sketch = feat.sketch(batch)
    assert sketch.shape == (3, feat.raw_dim)
    params = dict(model.named_parameters())
    for i in range(3):
        grads = autograd_weight_grads(model, batch, i)
        expected = []
        for name, module in feat.layers:
            pname = "lm_head.weight" if name == "head" else \
                next(n for n, p in params.items() if p is module.weight)
            p_in, p_out = feat.sides[name]
            expected.append((p_out.T @ grads[pname] @ p_in).reshape(-1))
        expected = torch.cat(expected)
        torch.testing.assert_close(sketch[i], expected, rtol=1e-4, atol=1e-6)


def test_fast_sketch_covers_the_requested_blocks():
    model = tiny_llama()
    all_blocks = FastFeaturizer(model, FeatureConfig(model="tiny", dim=8, fast_blocks=None, fast_rank=2))
    top_one = FastFeaturizer(model, FeatureConfig(model="tiny", dim=8, fast_blocks=1, fast_rank=2))
    assert len(all_blocks.layers) == 3 * 7 + 1  # q,k,v,o,gate,up,down per block + head
    assert len(top_one.layers) == 7 + 1
    assert all(name.startswith("block2.") for name, _ in top_one.layers[:-1])


def test_full_mode_gradient_is_the_autograd_gradient_and_features_are_unit_rows():
    model = tiny_llama(tie=True)
    config = FeatureConfig(model="tiny", mode="full", dim=64)
    feat = FullFeaturizer(model, config)
    batch = random_batch([(10, 4), (15, 6)])
    per_sample = feat.gradients(batch)
    for i, named in enumerate(per_sample):
        ref = autograd_weight_grads(model, batch, i)
        for name, g in named:
            torch.testing.assert_close(g[0], ref[name], rtol=1e-4, atol=1e-7)
    X = feat.features(batch)
    assert X.shape == (2, 64) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
