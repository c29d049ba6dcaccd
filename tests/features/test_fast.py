"""fast mode against autograd on tiny random Llamas: exact as a hashed sketch, unbiased, weighted like the full gradient.

The fast sketch of a linear layer is, bit for bit, the CountSketch of its per-sample weight gradient under the pair
hash (i, j) -> h_out(i) + h_in(j) mod D (TensorSketch); norms are taken exactly. So checking the sketch against the
pair-hash CountSketch of the autograd gradient checks the hooks, the padding, the shared-input groups, the tied
embedding/head and the loss normalisation all at once.
"""
import numpy as np
import pytest
import torch

from core.config import FeatureConfig
from core.features.fast import FastFeaturizer
from tests.features.test_gradients import autograd_weight_grads, random_batch, tiny_llama


def pair_hash_sketch(G: torch.Tensor, out_hash, in_hash) -> torch.Tensor:
    """CountSketch of vec(G) (out x in) with bucket h_out(i) + h_in(j) mod D and sign s_out(i) s_in(j)."""
    D = out_hash.dim
    buckets = (out_hash.buckets[:, None] + in_hash.buckets[None, :]) % D
    signs = out_hash.signs[:, None] * in_hash.signs[None, :]
    return torch.zeros(D, dtype=torch.float64).index_add_(0, buckets.reshape(-1),
                                                          (signs * G).reshape(-1).double())


@pytest.mark.parametrize("tie,fast_blocks", [(True, None), (False, None), (True, 2)])
def test_fast_sketch_is_the_pair_hash_countsketch_of_the_autograd_gradient(tie, fast_blocks):
    model = tiny_llama(tie=tie)
    feat = FastFeaturizer(model, FeatureConfig(model="tiny", dim=16, fast_blocks=fast_blocks, sketch_dim=32))
    batch = random_batch([(12, 5), (7, 2), (20, 11)])  # different lengths: padding must not leak
    parts = dict(feat.sketch(batch))
    params = dict(model.named_parameters())
    name_of = {id(p): n for n, p in params.items()}
    for i in range(3):
        grads = autograd_weight_grads(model, batch, i)
        for group in feat.groups:
            expected = sum(pair_hash_sketch(grads[name_of[id(layer.weight)]], out_hash, group.x_hash)
                           for layer, out_hash in group.members)
            torch.testing.assert_close(parts[group.name][i].double(), expected, rtol=1e-4, atol=1e-6)
        head_grad = grads["lm_head.weight"] if not tie else grads["model.embed_tokens.weight"]
        if not tie:  # untied: the head and the embedding are two parameters, two sketches
            emb = pair_hash_sketch(grads["model.embed_tokens.weight"], feat.embed_hashes[1], feat.embed_hashes[0])
            torch.testing.assert_close(parts["embed"][i].double(), emb, rtol=1e-4, atol=1e-6)
        if tie and fast_blocks is not None:  # the lookup is below the sketched blocks: only the head's use counts
            head_grad = head_grad - embedding_lookup_grad(model, batch, i)
        expected = pair_hash_sketch(head_grad, feat.head_hashes[1], feat.head_hashes[0])
        torch.testing.assert_close(parts["head"][i].double(), expected, rtol=1e-4, atol=1e-6)
        for name, module, _ in feat.norms:
            torch.testing.assert_close(parts[name][i], grads[name + ".weight"], rtol=1e-4, atol=1e-7)
    sketched = {name for name, _, _ in feat.norms}
    if fast_blocks is None:
        assert len(sketched) == 2 * 3 + 1  # two norms per block and the final norm
    else:
        assert "model.layers.0.input_layernorm" not in sketched and "model.norm" in sketched


def embedding_lookup_grad(model, batch, i) -> torch.Tensor:
    """The input-embedding part of a tied matrix's gradient, by autograd through the embedding output alone."""
    n = int(batch.attention_mask[i].sum())
    ids, labels = batch.input_ids[i:i + 1, :n], batch.labels[i:i + 1, :n]
    emb = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    loss = model(inputs_embeds=emb, labels=labels).loss
    (g,) = torch.autograd.grad(loss, emb)
    out = torch.zeros_like(model.get_input_embeddings().weight)
    return out.index_add_(0, ids[0], g[0])


def test_fast_covers_every_parameter_when_all_blocks_are_sketched():
    for tie in (True, False):
        feat = FastFeaturizer(tiny_llama(tie=tie), FeatureConfig(model="tiny", dim=16, sketch_dim=16))
        assert feat.coverage["covered"] == feat.coverage["parameters"]
    top = FastFeaturizer(tiny_llama(), FeatureConfig(model="tiny", dim=16, fast_blocks=1, sketch_dim=16))
    assert top.coverage["covered"] < top.coverage["parameters"]
    assert all(g.name.startswith("model.layers.2.") for g in top.groups)


def test_per_layer_sketch_inner_products_are_unbiased():
    """Monte Carlo over hash seeds: the mean of <TS(G_a), TS(G_b)> is <G_a, G_b> for every layer group."""
    model = tiny_llama(tie=True)
    batch = random_batch([(14, 6), (16, 4)])
    grads = [autograd_weight_grads(model, batch, i) for i in range(2)]
    base = FastFeaturizer(model, FeatureConfig(model="tiny", dim=16, sketch_dim=16))
    name_of = {id(p): n for n, p in model.named_parameters()}
    truth = {g.name: sum(float((grads[0][name_of[id(l.weight)]] * grads[1][name_of[id(l.weight)]]).sum())
                         for l, _ in g.members) for g in base.groups}
    scale = {g.name: np.sqrt(sum(float((grads[0][name_of[id(l.weight)]] ** 2).sum()) for l, _ in g.members)
                             * sum(float((grads[1][name_of[id(l.weight)]] ** 2).sum()) for l, _ in g.members))
             for g in base.groups}
    estimates = {name: [] for name in truth}
    for seed in range(200):
        parts = dict(FastFeaturizer(model, FeatureConfig(model="tiny", dim=16, sketch_dim=16, seed=seed))
                     .sketch(batch))
        for name in truth:
            estimates[name].append(float(parts[name][0] @ parts[name][1]))
    for name, values in estimates.items():
        values = np.array(values)
        sem = values.std(ddof=1) / np.sqrt(len(values))
        assert abs(values.mean() - truth[name]) < 4 * sem + 1e-3 * scale[name], (name, values.mean(), truth[name])
        # and the spread is that of a CountSketch to D = 16, not worse: sd <= ~sqrt(2/D) |G_a||G_b|
        assert values.std() < 0.6 * scale[name], name


def test_fast_with_all_layers_and_a_wide_sketch_ranks_mixtures_like_full():
    """The weighting across layers matches the full gradient's: G-Vendi of graded mixtures, rho >= 0.99 and the same
    level; sketching only the top block (most of the gradient left out) visibly misses that level."""
    from scipy.stats import spearmanr

    from core.analysis.diversity import vendi_score
    from core.features.batches import Encoded, collate
    from core.features.gradients import FullFeaturizer

    model = tiny_llama(tie=True)
    rng = np.random.default_rng(0)
    prefix = rng.integers(1, 97, size=6).tolist()
    # "narrow" rows: one shared prompt, responses over 4 tokens; "wide" rows: everything random
    narrow = [Encoded(prefix + rng.integers(1, 5, size=8).tolist(), 6, False) for _ in range(24)]
    wide = [Encoded(rng.integers(1, 97, size=14).tolist(), 6, False) for _ in range(24)]
    batch = collate(narrow + wide, pad_id=0)
    fast = FastFeaturizer(model, FeatureConfig(model="tiny", dim=4096, sketch_dim=4096)).features(batch)
    top = FastFeaturizer(model, FeatureConfig(model="tiny", dim=4096, fast_blocks=1, sketch_dim=4096)).features(batch)
    full = FullFeaturizer(model, FeatureConfig(model="tiny", mode="full", dim=4096)).features(batch)
    mixtures = []
    for m in range(33):
        k = int(round(16 * (m // 3) / 10))
        mixtures.append(list(rng.choice(24, k, replace=False)) + list(24 + rng.choice(24, 16 - k, replace=False)))
    g = {name: np.array([vendi_score(X[idx]) for idx in mixtures])
         for name, X in (("fast", fast), ("top", top), ("full", full))}
    assert spearmanr(g["fast"], g["full"]).statistic >= 0.99
    assert 0.97 < np.median(g["fast"] / g["full"]) < 1.03
    assert not 0.95 < np.median(g["top"] / g["full"]) < 1.05  # the test can tell a sketch that misses layers


def test_the_new_default_has_its_own_code_version_so_old_features_are_never_reused(store):
    """Features cached by the Kronecker fast mode (code version 1) live under other keys than today's default."""
    import dataclasses

    from core import config as cfg_module
    from core.config import FeatureConfig

    today = FeatureConfig(model_revision="r")
    assert today.fast_blocks is None and today.identity()["code_version"] == cfg_module.FEATURE_CODE_VERSION >= 2
    old_identity = dict(today.identity(), code_version=1)
    assert cfg_module.stable_hash(old_identity) != today.key()
    X = np.ones((1, today.dim), dtype=np.float32)
    from core.data.ingest import IngestReport, Sample, content_hash

    store.save_dataset("d", IngestReport([Sample("a", "p", "r", content_hash("p", "r"), {})], [], [], "t"),
                       source="t")
    store.write_features(today, [content_hash("p", "r")], X)
    real = cfg_module.FEATURE_CODE_VERSION
    try:
        cfg_module.FEATURE_CODE_VERSION = real + 1  # a later change of the features' code
        bumped = dataclasses.replace(today)
        assert store.missing_feature_hashes("d", bumped) == [content_hash("p", "r")]
    finally:
        cfg_module.FEATURE_CODE_VERSION = real
    assert store.missing_feature_hashes("d", today) == []


def test_the_head_taken_in_chunks_gives_the_same_sketch_and_losses(monkeypatch):
    """The head's logits are made a chunk of positions at a time (memory); any chunking must give the same feature
    and the same per-row losses as one chunk."""
    import core.features.fast as fast

    model = tiny_llama(tie=True)
    batch = random_batch([(12, 5), (7, 2), (20, 11)])
    feat = FastFeaturizer(model, FeatureConfig(model="tiny", dim=16, sketch_dim=32))
    monkeypatch.setattr(fast, "HEAD_CHUNK", 10_000)
    whole, losses = dict(feat.sketch(batch)), feat.last_losses.copy()
    monkeypatch.setattr(fast, "HEAD_CHUNK", 3)  # positions of one row split across chunks, rows sharing a chunk
    chunked = dict(feat.sketch(batch))
    for name, value in whole.items():
        torch.testing.assert_close(chunked[name], value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feat.last_losses, losses, rtol=1e-6)
    assert (losses > 0).all()
