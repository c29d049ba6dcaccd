"""Issue 17, hole 7: every row-normalisation is safe at any scale (1e20 in float32 squares to inf) and refuses NaN,
infinite and all-zero rows with a message naming how many and the first, instead of a wrong score."""
import numpy as np
import pytest

X = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)


def test_streaming_g_vendi_of_huge_values_equals_the_plain_score():
    from core.analysis.diversity import StreamingVendi, streaming_vendi, vendi_score

    want = vendi_score(X)
    for scale in (1e20, 1e-30, 1.0):
        score, n = streaming_vendi([X[:25] * np.float32(scale), X[25:] * np.float32(scale)], 16)
        assert n == 40 and score == pytest.approx(want, rel=1e-5), scale
    acc = StreamingVendi(16)
    acc.add(X.astype(np.float64) * 1e300)  # squares overflow float64 too: scaled by the row's max first
    assert acc.score() == pytest.approx(want, rel=1e-5)


def test_streaming_g_vendi_refuses_nan_infinite_and_zero_rows_naming_them():
    from core.analysis.diversity import StreamingVendi

    acc = StreamingVendi(16)
    acc.add(X[:10])
    bad = X[10:].copy()
    bad[2, 3], bad[5, 0], bad[7] = np.nan, np.inf, 0.0
    with pytest.raises(ValueError, match=r"2 row\(s\) hold NaN or infinite values \(first: row 12\).*1 row\(s\) "
                                         r"are all zeros.*row 17"):
        acc.add(bad)
    assert acc.n == 10  # the refused chunk counted nothing


def test_unit_of_the_sparsity_rules_keeps_huge_rows_and_refuses_zero_rows():
    from core.analysis.sparsity import gradient_mass, unit

    want = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert np.allclose(unit(X * np.float32(1e20)), want, atol=1e-6)
    assert np.allclose(unit(X * np.float32(1e-30)), want, atol=1e-6)
    assert np.allclose(gradient_mass(X * np.float32(1e20)), gradient_mass(X), rtol=1e-4)
    zero = X.copy()
    zero[4] = 0
    with pytest.raises(ValueError, match=r"1 row\(s\) are all zeros.*row 4"):
        unit(zero)


def test_unit_rows_names_the_first_bad_id_and_refuses_complex_values():
    from core.analysis.diversity import unit_rows

    bad = X.copy()
    bad[6, 1] = np.inf
    with pytest.raises(ValueError, match=r"1 row\(s\).*row 6 \(id 'r6'\)"):
        unit_rows(bad, ids=[f"r{i}" for i in range(40)])
    with pytest.raises(ValueError, match="complex"):
        unit_rows(X + 1j)
