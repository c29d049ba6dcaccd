"""Projections preserve inner products within the JL error, and are fixed by their seed."""
import numpy as np
import torch

from core.features.projection import CountSketchProjector, DenseRademacherProjector


def _pairs(n=40, p=20_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, p, generator=g)
    # correlated pairs so the inner products span a range, not just ~0
    other = 0.6 * base + 0.8 * torch.randn(n, p, generator=g)
    return base, other


def _check_jl(project, d, n=40, p=20_000):
    a, b = _pairs(n, p)
    pa, pb = project(a), project(b)
    true = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    est = (pa * pb).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    # JL: |<Pa,Pb> - <a,b>| ≲ c·|a||b|/√d; 4/√d is ~4 standard deviations
    err = (est - true).abs()
    assert err.max() < 4 / d**0.5, (err.max(), 4 / d**0.5)
    # and the norms themselves are preserved
    ratio = pa.norm(dim=1) / a.norm(dim=1)
    assert ((ratio - 1).abs() < 4 / d**0.5).all()
    return err


def test_countsketch_preserves_inner_products():
    proj = CountSketchProjector(1024, seed=0)
    _check_jl(lambda x: proj.project([("w", x)]), 1024)


def test_countsketch_splits_named_tensors_consistently():
    proj = CountSketchProjector(256, seed=3)
    x = torch.randn(2, 1000)
    whole = proj.project([("a", x[:, :400]), ("b", x[:, 400:])])
    again = CountSketchProjector(256, seed=3).project([("a", x[:, :400]), ("b", x[:, 400:])])
    torch.testing.assert_close(whole, again)  # same seed, same map
    other = CountSketchProjector(256, seed=4).project([("a", x[:, :400]), ("b", x[:, 400:])])
    assert not torch.allclose(whole, other)


def test_dense_rademacher_preserves_inner_products():
    proj = DenseRademacherProjector(1024, seed=0, block_rows=4096)
    _check_jl(lambda x: proj.project([("w", x)]), 1024, p=12_000)
