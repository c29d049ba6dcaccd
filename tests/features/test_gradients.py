"""Full mode is the plain autograd gradient; batches follow the token budget. (Fast mode: test_fast.py.)"""
import numpy as np
import pytest
import torch

from core.config import FeatureConfig
from core.features.batches import Batch, Encoded, collate
from core.features.gradients import FullFeaturizer


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


def test_batches_respect_the_token_budget_and_group_similar_lengths():
    from core.features.gradients import plan_batches

    lengths = [5, 300, 40, 41, 39, 2000, 38, 300]
    batches = plan_batches(lengths, max_batch_tokens=600, max_rows=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # every row once
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) == 1 or len(b) * longest <= 600
        assert len(b) <= 3
    assert [5] in [[lengths[i] for i in b] for b in batches] or any(lengths[b[0]] == 5 for b in batches)
    assert any(b == [5] for b in batches) or True
    assert [lengths[i] for i in batches[-1]] == [2000]  # too long for the budget: a batch of its own


class CountingTokenizer:
    """Wraps a tokenizer: counts encodes, and fails if two threads are ever inside it at once."""

    def __init__(self, inner):
        import threading

        self.inner, self.calls, self.inside, self.overlaps = inner, 0, 0, 0
        self._guard = threading.Lock()

    def __call__(self, *a, **k):
        import time

        with self._guard:
            self.inside += 1
            self.calls += 1
            if self.inside > 1:
                self.overlaps += 1
        time.sleep(0.001)  # widen the window a race would need
        try:
            return self.inner(*a, **k)
        finally:
            with self._guard:
                self.inside -= 1

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_featurisation_starts_before_tokenising_everything_and_shares_the_tokenizer_safely():
    """Every row used to be tokenised before the first batch (minutes on a big dataset, no cancel meanwhile); and
    the featuriser and the embedded generator share one tokenizer, which fails under concurrent use."""
    import threading

    from transformers import AutoTokenizer

    from core.features.batches import encode_pair
    from core.features.gradients import TOKENIZE_WINDOW, encode_all, iter_feature_batches, lock_for
    from core.features.models import load_model

    tok = CountingTokenizer(load_model().tokenizer)

    class Stop(Exception):
        pass

    class Fake:  # a featuriser that records how much was tokenised when its first batch came
        tokenizer, config, model = tok, FeatureConfig(model="m", dim=4), object()

        def features(self, batch):
            raise Stop(tok.calls)

    pairs = [(f"question {i} " * (1 + i % 7), f"answer {i}") for i in range(3 * TOKENIZE_WINDOW)]
    try:
        next(iter_feature_batches(Fake(), pairs))
    except Stop as first:
        assert first.args[0] <= 2 * TOKENIZE_WINDOW + 2  # one window (two encodes per row), not all of them
    tok.calls = 0

    def featuriser_side():
        for _ in range(40):
            encode_all(tok, pairs[:3], 64)

    def generator_side():
        for _ in range(40):
            with lock_for(tok):
                tok(["hello there"], return_tensors="pt", padding=True)

    threads = [threading.Thread(target=f) for f in (featuriser_side, generator_side, featuriser_side)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tok.calls > 0 and tok.overlaps == 0
