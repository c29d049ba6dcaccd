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


def test_countsketch_is_fixed_by_its_seed():
    x = torch.randn(2, 1000)
    named = [("a", x[:, :400]), ("b", x[:, 400:])]
    whole = CountSketchProjector(256, seed=3).project(named)
    torch.testing.assert_close(whole, CountSketchProjector(256, seed=3).project(named))  # same seed, same map
    assert not torch.allclose(whole, CountSketchProjector(256, seed=4).project(named))


def test_countsketch_splits_named_tensors_consistently():
    """A gradient given as named parts is sketched part by part: each name has its own map (drawn from the seed and
    the name alone), whatever else is projected with it, in whichever order, by a fresh projector or a used one."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 400, generator=g), torch.randn(3, 400, generator=g)
    proj = CountSketchProjector(256, seed=3)
    whole = proj.project([("a", a), ("b", b)])
    # the parts add up: the sketch of the whole is the sum of the parts' sketches
    torch.testing.assert_close(whole, proj.project([("a", a)]) + proj.project([("b", b)]))
    # a part's map belongs to its name, not to its place in the list
    torch.testing.assert_close(whole, CountSketchProjector(256, seed=3).project([("b", b), ("a", a)]))
    torch.testing.assert_close(CountSketchProjector(256, seed=3).project([("b", b)]), proj.project([("b", b)]))
    # two names of the same size are two independent maps: swapping the contents changes the sketch
    assert not torch.allclose(whole, proj.project([("a", b), ("b", a)]))
    # a name seen before with another size gets a map for its new size, the same a fresh projector draws
    proj.project([("a", torch.randn(3, 50, generator=g))])
    torch.testing.assert_close(proj.project([("a", a)]), CountSketchProjector(256, seed=3).project([("a", a)]))
    # and the split vector's sketch is still a JL sketch of the whole: inner products of [a, b] rows are kept
    d, parts = 1024, CountSketchProjector(1024, seed=5)
    x, y = _pairs(n=20, p=20_000)
    split = [(f"part{i}", slice(i * 5_000, (i + 1) * 5_000)) for i in range(4)]
    px = parts.project([(n, x[:, s]) for n, s in split])
    py = parts.project([(n, y[:, s]) for n, s in split])
    true = (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1))
    est = (px * py).sum(1) / (x.norm(dim=1) * y.norm(dim=1))
    assert (est - true).abs().max() < 4 / d**0.5


def test_dense_rademacher_preserves_inner_products():
    proj = DenseRademacherProjector(1024, seed=0, block_rows=4096)
    _check_jl(lambda x: proj.project([("w", x)]), 1024, p=12_000)
