"""Near-duplicates in gradient space on constructed vectors: planted copies found, untouched rows left alone, the
threshold curve monotone, the kept row the one nearest its group's centre; MinHash finds text copies."""
import numpy as np

from core.analysis.dedup import CURVE, find_duplicates, minhash_groups, nearest_neighbours, word_diff


def planted(seed=0, n=60, d=48, copies=8, noise=0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    src = rng.choice(n, copies, replace=False)
    dup = X[src] + noise * rng.normal(size=(copies, d)) * np.linalg.norm(X[src], axis=1, keepdims=True) / np.sqrt(d)
    return np.concatenate([X, dup]).astype(np.float32), src


def test_planted_copies_are_grouped_and_untouched_rows_are_not_flagged():
    X, src = planted()
    result = find_duplicates(X, 0.95)
    n = 60
    expected = {frozenset((int(s), n + i)) for i, s in enumerate(src)}
    assert {frozenset(g) for g in result.groups} == expected
    assert result.flagged.sum() == len(src)
    untouched = np.setdiff1d(np.arange(n), src)
    assert not result.flagged[untouched].any()
    counts = [result.curve[t] for t in CURVE]
    assert all(a >= b for a, b in zip(counts, counts[1:]))  # a higher threshold never flags more


def test_the_kept_row_is_the_one_nearest_the_group_centre():
    """Three groups whose row nearest the centre sits first, in the middle and last of the group in row order (and
    never at the dataset's first row): keeping the first row, the last, or any row by position fails here."""
    rng = np.random.default_rng(1)
    d = 256
    X = rng.normal(size=(30, d)).astype(np.float32)  # unrelated rows (cosine ~0 to each other)
    layout = {(3, 9, 20): 0, (5, 14, 22, 27): 2, (7, 11, 16): 2}  # group rows -> position of the near-centre one
    expected = []
    for rows, near in layout.items():
        centre = rng.normal(size=d)
        for pos, r in enumerate(rows):
            X[r] = centre + (0.02 if pos == near else 0.4) * rng.normal(size=d)
        U = X[list(rows)] / np.linalg.norm(X[list(rows)], axis=1, keepdims=True)
        m = U.mean(axis=0)
        kept = rows[int(np.argmax(U @ (m / np.linalg.norm(m))))]
        assert kept == rows[near]  # the construction did what it says
        expected.append([kept] + [r for r in rows if r != kept])
    result = find_duplicates(X, 0.8)
    assert sorted(sorted(g) for g in result.groups) == sorted(sorted(r) for r in layout)
    by_rows = {frozenset(g): g for g in result.groups}
    for want in expected:
        got = by_rows[frozenset(want)]
        assert got[0] == want[0], f"group {sorted(want)} kept row {got[0]}, not {want[0]} (nearest its centre)"
    flagged = sorted(r for g in expected for r in g[1:])
    assert np.flatnonzero(result.flagged).tolist() == flagged


def test_an_exact_copy_is_a_neighbour_not_the_row_itself():
    X = np.random.default_rng(2).normal(size=(10, 8)).astype(np.float32)
    X = np.concatenate([X, X[:1]])
    nb = nearest_neighbours(X, 3)
    assert nb.idx[0, 0] == 10 and nb.idx[10, 0] == 0 and (nb.idx != np.arange(11)[:, None]).all()
    assert find_duplicates(X, 0.99).groups == [[0, 10]] or find_duplicates(X, 0.99).groups == [[10, 0]]


def test_minhash_finds_text_copies_and_word_diff_marks_what_changed():
    texts = ["Tom has 3 apples and buys 4 more apples at the market. How many apples does Tom have now?",
             "Tom has 3 apples and buys 4 more apples at the market. How many apples does Tom have in total?",
             "A train leaves at noon and travels 60 miles per hour. How far has it gone by 3 pm?"]
    assert minhash_groups(texts, threshold=0.6) == [[0, 1]]
    changed = [w for w, tag in word_diff(texts[0], texts[1]) if tag]
    assert changed == ["in", "total?"]
