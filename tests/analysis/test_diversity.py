"""G-Vendi: the identities, the independent vendi-score oracle, Rényi orders and the streaming form."""
import numpy as np
import pytest
from vendi_score import vendi

from core.analysis.diversity import StreamingVendi, streaming_vendi, vendi_score


def test_identical_rows_score_one():
    x = np.tile(np.random.default_rng(0).normal(size=(1, 64)), (50, 1))
    assert vendi_score(x) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("n", [3, 16, 64])
def test_orthonormal_rows_score_n(n):
    q, _ = np.linalg.qr(np.random.default_rng(n).normal(size=(128, n)))
    assert vendi_score(q.T * 7.0) == pytest.approx(n, rel=1e-9)  # scale does not matter: rows are normalised


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("shape", [(40, 16), (10, 64), (300, 32)])
def test_matches_vendi_score_package(shape, q):
    x = np.random.default_rng(1).normal(size=shape) + 0.5
    assert vendi_score(x, q=q) == pytest.approx(vendi.score_dual(x, q=q), rel=1e-6)


def test_never_rises_as_q_grows():
    x = np.random.default_rng(2).normal(size=(80, 20)) + np.linspace(0, 2, 20)
    scores = [vendi_score(x, q) for q in (0.5, 1.0, 2.0, float("inf"))]
    assert all(a >= b - 1e-9 for a, b in zip(scores, scores[1:])), scores
    assert 1.0 <= scores[-1] <= scores[0] <= 20


def test_streaming_equals_in_memory():
    x = np.random.default_rng(3).normal(size=(1000, 48)).astype(np.float32)
    chunks = [x[i:i + 137] for i in range(0, 1000, 137)]
    s, n = streaming_vendi(chunks, 48)
    assert n == 1000
    assert s == pytest.approx(vendi_score(x), rel=1e-5)
    acc = StreamingVendi(48)
    acc.add(x)
    assert acc.score(2.0) == pytest.approx(vendi_score(x, 2.0), rel=1e-5)


def test_zero_rows_are_rejected():
    with pytest.raises(ValueError):
        vendi_score(np.zeros((3, 4)))


def test_distinct_n_and_compression_on_known_inputs():
    from core.analysis.diversity import compression_ratio, distinct_n

    assert distinct_n(["a b a b"], 1) == 0.5  # 2 unique of 4
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)  # ab, ba of ab, ba, ab
    assert distinct_n(["The cat.", "the CAT."], 1) == 0.5  # case-folded; "." is a token: {the, cat, .} of 6
    assert distinct_n([], 1) == 0.0
    repetitive = compression_ratio(["the same sentence again"] * 50)
    varied = compression_ratio([f"{i} {i * 7919 % 1000} q{i ** 2}" for i in range(50)])
    assert repetitive > 5 > varied > 1


def test_embedding_vendi_with_the_packaged_minilm():
    from core.analysis.diversity import embedding_vendi

    assert embedding_vendi(["a cat sat on the mat"] * 4) == pytest.approx(1.0, abs=1e-4)
    varied = embedding_vendi(["a cat sat on the mat", "quarterly revenue rose 4%", "integrate x^2 dx",
                              "the train to Paris leaves at noon"])
    assert 2.5 < varied <= 4
