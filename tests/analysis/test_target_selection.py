"""Targeted selection (issue 22): greedy facility location (plus the depth term) picks the training rows that cover the
eval set's regions (every region, not the biggest one many times), then more rows near them rather than far ones or
ones as close to everything (the depth term counts similarity above a row's background), honours a seed set and
exclusions, matches a brute-force greedy, and blends into the diversity greedy; `select --toward` skips training
copies of eval rows."""
import json

import numpy as np
import pytest

from core.analysis.selection import greedy
from core.analysis.target_selection import DEPTH, objective, toward

D = 48


def regions(seed=0):
    """Eval: 3 regions of 20, 5 and 5 rows around orthogonal centres. Candidates: 4 rows near each region's centre
    (indices 0-3 big, 4-7 and 8-11 the small ones), then 60 rows on random directions far from all three."""
    rng = np.random.default_rng(seed)
    centres = np.eye(D, dtype=np.float32)[:3]

    def around(c, n, spread):
        return c + spread * rng.normal(size=(n, D)).astype(np.float32) / np.sqrt(D)

    E = np.concatenate([around(centres[0], 20, 1.0), around(centres[1], 5, 1.0), around(centres[2], 5, 1.0)])
    near = np.concatenate([around(c, 4, 0.2) for c in centres])
    far = rng.normal(size=(60, D)).astype(np.float32)
    far[:, :3] = 0  # orthogonal to every centre
    return np.concatenate([near, far]), E


def region_of(i: int) -> int:
    return i // 4 if i < 12 else -1


def test_facility_location_covers_every_region_where_mean_alignment_takes_the_biggest():
    X, E = regions()
    picked = toward(X, E, 3)
    assert sorted(region_of(i) for i in picked.indices) == [0, 1, 2]
    mean_aligned = np.argsort(-(X @ E.mean(axis=0)))[:3]  # LESS-style: the big region only
    assert sorted(region_of(int(i)) for i in mean_aligned) == [0, 0, 0]
    assert picked.objective == pytest.approx(objective(E, X[picked.indices]), abs=1e-5)
    assert picked.objective > objective(E, X[mean_aligned])
    assert region_of(picked.indices[0]) == 0  # the largest region gains most, first


def brute_force(X, E, k, depth=DEPTH, seed_X=None, blend=0.0):
    """The plain greedy on F = Σ_e max s(e, x) + depth Σ_e log(1 + Σ r(e, x)), r(e, x) = max(0, s(e, x) - b(x)) and
    b(x) = max(0, mean cosine of x to the candidates), every gain recomputed each step; with `blend`, on
    (1 - w)·gain / largest gain + w·(least mass x_iᵀSx_i, min-max scaled)."""
    Xu = X / np.linalg.norm(X, axis=1, keepdims=True)
    Eu = E / np.linalg.norm(E, axis=1, keepdims=True)
    S = np.maximum(Xu @ Eu.T, 0)
    mean = Xu.mean(axis=0)
    R = np.maximum(S - np.maximum(Xu @ mean, 0)[:, None], 0)
    best, mass, out = np.zeros(len(E)), np.zeros(len(E)), []
    if seed_X is not None:
        Yu = seed_X / np.linalg.norm(seed_X, axis=1, keepdims=True)
        Y = np.maximum(Yu @ Eu.T, 0)
        best, mass = Y.max(axis=0), np.maximum(Y - np.maximum(Yu @ mean, 0)[:, None], 0).sum(axis=0)
    for _ in range(k):
        gains = np.maximum(S - best, 0).sum(axis=1) + depth * (np.log1p(mass + R) - np.log1p(mass)).sum(axis=1)
        if blend:
            left = np.setdiff1d(np.arange(len(X)), out)
            div = ((Xu @ Xu[out].T) ** 2).sum(axis=1) if out else np.zeros(len(X))
            lo, hi = div[left].min(), div[left].max()
            gains = (1 - blend) * gains / gains[left].max() + blend * ((hi - div) / (hi - lo) if hi > lo else 1.0)
        gains[out] = -np.inf
        out.append(int(np.argmax(gains)))
        best = np.maximum(best, S[out[-1]])
        mass = mass + R[out[-1]]
    return out


@pytest.mark.parametrize("depth", [DEPTH, 0.0, 1.0])
def test_the_incremental_and_lazy_gains_give_the_brute_force_greedy(depth):
    rng = np.random.default_rng(3)
    X, E = rng.normal(size=(300, 16)), rng.normal(size=(80, 16))
    assert toward(X, E, 25, depth=depth).indices == brute_force(X, E, 25, depth)
    seed = rng.normal(size=(20, 16))
    assert toward(X, E, 10, depth=depth, seed_X=seed).indices == brute_force(X, E, 10, depth, seed_X=seed)
    assert toward(X, E, 15, depth=depth, blend=0.4).indices == brute_force(X, E, 15, depth, blend=0.4)


def test_once_every_region_is_served_the_depth_term_adds_rows_near_the_eval_set_not_far_ones():
    X, E = regions()
    picks = toward(X, E, 12).indices  # 12 = the rows near the three regions
    assert sorted(picks) == list(range(12))
    assert sorted(region_of(i) for i in picks[:3]) == [0, 1, 2]  # it covers every region first
    alone = toward(X, E, 12, depth=0.0).indices  # facility location alone: its gains are crumbs after 3 picks
    assert {region_of(i) for i in alone} == {0, 1, 2, -1}  # and some go to far rows
    with pytest.raises(ValueError, match="depth"):
        toward(X, E, 3, depth=-0.1)


def hub(seed):
    """Eval: 30 spread rows around one centre. Candidates: 40 rows near single eval rows (0-39: each close to one
    eval row, ~0.25 to the rest), then 40 rows of a tight group off to the side (40-79: a hub, ~0.4 to every eval
    row and ~0.99 to each other, as close to the eval set as to any row of the data)."""
    rng = np.random.default_rng(seed)
    centre, side = np.eye(D)[0], np.eye(D)[1]
    E = centre + 1.5 * rng.normal(size=(30, D)) / np.sqrt(D)
    E[:, 1] = 0
    near = E[rng.permutation(np.arange(40) % 30)] + 1.2 * rng.normal(size=(40, D)) / np.sqrt(D)
    near[:, 1] = 0
    group = centre + side + 0.2 * rng.normal(size=(40, D)) / np.sqrt(D)
    return np.concatenate([near, group]).astype(np.float32), E.astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_the_depth_term_counts_similarity_above_a_rows_background_so_a_hub_does_not_take_the_budget(seed):
    """With the depth term on plain clipped cosines (before issue 22's follow-up), a hub's ~0.4 to all 30 eval rows
    outweighed a near row's ~0.8 to one of them once facility location had saturated: 8-10 of 40 picks were hub rows.
    Counted above each row's background (its mean cosine to the candidates: ~0.65 for the hub's rows, ~0.3 for the
    others), the hub earns no depth: at most the one row facility location takes (it serves every eval row at ~0.4)."""
    X, E = hub(seed)
    picks = toward(X, E, 40).indices
    assert sum(i >= 40 for i in picks) <= 1
    assert sum(i >= 40 for i in brute_force(X, E, 40, depth=DEPTH)) <= 1


def test_a_seed_that_covers_the_big_region_and_exclusions_are_honoured():
    X, E = regions()
    picks = toward(X, E, 2, seed_X=X[:4]).indices
    assert sorted(region_of(i) for i in picks) == [1, 2]
    exclude = np.zeros(len(X), bool)
    exclude[4:8] = True  # region 1's rows are off limits
    picks = toward(X, E, 3, exclude=exclude).indices
    assert not set(picks) & set(range(4, 8)) and {region_of(i) for i in picks} >= {0, 2}


def test_blend_one_is_the_diversity_greedy_and_a_blend_trades_coverage_for_diversity():
    from core.analysis.diversity import vendi_score

    X, E = regions()
    assert toward(X, E, 10, blend=1.0).indices == greedy(X, 10)
    cov, mid, div = (toward(X, E, 6, blend=w) for w in (0.0, 0.7, 1.0))
    assert cov.objective > mid.objective > div.objective
    assert vendi_score(X[cov.indices]) + 1 < min(vendi_score(X[mid.indices]), vendi_score(X[div.indices]))
    assert sorted(region_of(i) for i in mid.indices[:3]) == [0, 1, 2]  # it covers first, then spreads
    with pytest.raises(ValueError, match="blend"):
        toward(X, E, 3, blend=1.5)


def test_cli_select_toward_skips_copies_of_eval_rows_and_beats_the_baselines(workspace, tmp_path, capsys):
    from core.cli import main
    from tests.analysis.test_coverage import add

    X, E = regions()
    # region 1's own rows left out; row 68 is a copy of eval row 21 (region 1): the best pick for it, if allowed
    X = np.concatenate([X[:4], X[8:], E[21:22]])
    texts = [(f"pool question {i} on {'abcdefgh'[i % 8]} topics number {i * 7}", f"because {i}") for i in range(68)]
    eval_texts = [(f"eval item {j} words {j * 13} here", f"so {j}") for j in range(30)]
    add(workspace, "pool", texts + [eval_texts[21]], X, tmp=tmp_path)
    add(workspace, "ev", eval_texts, E, tmp=tmp_path)
    capsys.readouterr()
    assert main(["select", "pool", "--budget", "3", "--toward", "ev", "--features", "g", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["skipped_contaminated"] == 1 and "pool68" not in out["ids"]
    assert {"pool0", "pool1", "pool2", "pool3"} & set(out["ids"]) and {"pool4", "pool5", "pool6", "pool7"} & set(
        out["ids"])  # regions 0 and 2
    assert out["selected"]["objective"] > out["diversity"]["objective"]
    assert out["selected"]["objective"] > out["random"]["objective"]
    assert out["selected"]["coverage"] >= out["diversity"]["coverage"]
    assert out["curve"]["k"] == [1, 2, 3] and out["curve"]["selected"][-1] == out["selected"]["coverage"]
    assert out["curve"]["random"][-1] == out["random"]["coverage"]
    assert main(["select", "pool", "--budget", "3", "--toward", "ev", "--features", "g", "--include-contaminated",
                 "--json"]) == 0
    assert "pool68" in json.loads(capsys.readouterr().out)["ids"]
    assert main(["select", "pool", "--budget", "3", "--blend", "0.5", "--features", "g"]) == 2  # --blend needs --toward
    assert main(["select", "pool", "--budget", "3", "--depth", "0", "--features", "g"]) == 2  # so does --depth
    capsys.readouterr()
    assert main(["select", "pool", "--budget", "12", "--toward", "ev", "--depth", "0", "--features", "g",
                 "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert alone["depth"] == 0 and alone["method"] == "facility-location"
    assert out["depth"] == DEPTH and out["method"].startswith("facility-location + depth")
