"""Eval-set coverage in gradient space (issue 22): the definition on a constructed case whose answer is known, the
uncovered rows and clusters, and the refusal of features from two different identities (core and CLI)."""
import json

import numpy as np
import pytest

from core.analysis.coverage import CoverageConfig, check_same_identity, coverage, identity_differences
from core.config import FeatureConfig

D = 64


def basis(i: int) -> np.ndarray:
    v = np.zeros(D, np.float32)
    v[i] = 1
    return v


def unit(v):
    return (v / np.linalg.norm(v)).astype(np.float32)


def planted():
    """20 eval rows in 10 pairs (u_i, v_i) on their own basis directions; pairs 0-5 have cos(u, v) = 0.9, pairs 6-9
    0.3, so the median within-eval neighbour cosine is 0.9 (the mean is 0.66). Training rows:
    - pairs 0-3: one row at cos 0.975 to both (covered);
    - pairs 4-5: one row at cos 0.87 to both (below 0.9: uncovered; a fixed 0.85 or the mean would call it covered);
    - pairs 6-7: a row equal to u_i (u covered at cos 1, v at 0.3 uncovered);
    - pairs 8-9: nothing near; and 6 rows on directions no eval row uses."""
    E, T, near = [], [], {}
    for i in range(10):
        c = 0.9 if i < 6 else 0.3
        u, w = basis(2 * i), basis(2 * i + 1)
        v = c * u + np.sqrt(1 - c * c) * w
        E += [u, v]
        mid = unit(u + v)
        if i < 4:
            near[i] = len(T)
            T.append(mid)
        elif i < 6:
            a = 0.87 / float(mid @ u)
            near[i] = len(T)
            T.append(unit(a * mid + np.sqrt(1 - a * a) * basis(40 + i)))
        elif i < 8:
            near[i] = len(T)
            T.append(u)
    for j in range(6):
        T.append(basis(50 + j))
    return np.stack(T), np.stack(E), near


def test_coverage_is_the_share_of_eval_rows_as_close_to_training_as_to_each_other():
    T, E, near = planted()
    result = coverage(T, E, CoverageConfig(k=10))
    assert result.threshold == pytest.approx(0.9, abs=1e-5)  # the median, not the mean (0.66)
    expected = np.zeros(20, bool)
    expected[:8] = True  # pairs 0-3
    expected[[12, 14]] = True  # u of pairs 6 and 7
    assert result.covered.tolist() == expected.tolist()
    assert result.coverage == pytest.approx(0.5)
    for i in range(8):  # each eval row's nearest training row is the one planted for its pair
        assert result.nearest[2 * i] == near[i] and result.nearest[2 * i + 1] == near[i]
    assert result.similarity[8] == pytest.approx(0.87, abs=1e-4)


def test_a_fixed_threshold_replaces_the_median_and_changes_the_answer():
    T, E, _ = planted()
    assert coverage(T, E, CoverageConfig(threshold=0.85)).coverage == pytest.approx(0.7)  # pairs 4-5 now covered


def test_more_training_rows_of_the_eval_kind_cover_more_and_other_kinds_cover_less():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, D))
    E = np.concatenate([c + 0.35 * rng.normal(size=(10, D)) for c in centres])
    same = np.concatenate([c + 0.35 * rng.normal(size=(30, D)) for c in centres])
    other = rng.normal(size=(240, D))
    a, b = coverage(same[::3], E).coverage, coverage(same, E).coverage
    assert 0.25 < a < b and coverage(other, E).coverage < 0.05


def test_the_coverage_curve_counts_the_first_k_rows_with_the_base():
    from core.analysis.coverage import coverage_curve

    T, E, _ = planted()
    order = np.array([6, 0, 1, 7, 2, 3, 8, 9, 10, 11])  # u6, pairs 0-1, u7, pairs 2-3, then unrelated rows
    curve = coverage_curve(T[order], E, 0.9, points=5)
    assert curve == {"k": [2, 4, 6, 8, 10], "coverage": [0.15, 0.3, 0.5, 0.5, 0.5]}
    with_base = coverage_curve(T[order[4:]], E, 0.9, base=T[order[:4]], points=2)
    assert with_base == {"k": [3, 6], "coverage": [0.5, 0.5]}


def test_uncovered_rows_and_clusters_are_named():
    T, E, _ = planted()
    ids = [f"e{j}" for j in range(20)]
    out = coverage(T, E, CoverageConfig(k=10)).to_json(ids, [f"t{i}" for i in range(len(T))])
    assert out["uncovered"] == [f"e{j}" for j in (8, 9, 10, 11, 13, 15, 16, 17, 18, 19)]
    in_uncovered = {i for c in out["uncovered_clusters"] for i in c["ids"]}
    assert {f"e{j}" for j in range(8, 20)} - {"e12", "e14"} <= in_uncovered
    assert not in_uncovered & {f"e{j}" for j in range(8)}  # no covered pair's cluster is listed
    assert out["per_eval"][0] == {"id": "e0", "nearest_id": "t0", "similarity": pytest.approx(0.9747, abs=1e-4),
                                  "covered": True, "cluster": out["per_eval"][0]["cluster"]}


def test_features_of_different_identities_are_refused_naming_the_field():
    a = FeatureConfig(model="m", model_revision="r", dim=D)
    check_same_identity(a, FeatureConfig(model="m", model_revision="r", dim=D))  # the same: no error
    b = FeatureConfig(model="m", model_revision="r", dim=D, seed=1, max_length=512)
    assert set(identity_differences(a.identity(), b.identity())) == {"seed", "max_length"}
    with pytest.raises(ValueError, match=r"max_length: 1024 for train vs 512 for ev.*seed: 0 for train vs 1 for ev"):
        check_same_identity(a, b, train="train", evals="ev")


# ---- the CLI (synthetic vectors imported, no model) ------------------------------------------------------------------

def add(workspace, name, texts, X, set_name="g", tmp=None):
    from core.cli import main
    from core.data.ingest import IngestReport, Sample, content_hash
    from core.data.store import Store

    samples = [Sample(f"{name}{i}", p, r, content_hash(p, r), {}) for i, (p, r) in enumerate(texts)]
    with Store() as store:
        store.save_dataset(name, IngestReport(samples, [], [], "test"), source="test")
    np.save(tmp / f"{name}.npy", np.asarray(X, np.float32))
    (tmp / f"{name}.ids").write_text("\n".join(s.id for s in samples))
    assert main(["import-vectors", name, str(tmp / f"{name}.npy"), "--ids", str(tmp / f"{name}.ids"),
                 "--set", set_name]) == 0


def test_cli_coverage_json_and_refusal_of_another_feature_set(workspace, tmp_path, capsys):
    from core.cli import main

    T, E, _ = planted()
    def letters(i: int) -> str:  # the texts carry no numbers: contamination's numbers rule has nothing to check
        return "abcdefghijklmnopqrstuvwxyz"[i % 26] + "abcdefghijklmnopqrstuvwxyz"[i // 26]

    add(workspace, "train", [(f"train question {letters(i)} about boats", f"answer {letters(i)}")
                             for i in range(len(T))], T, tmp=tmp_path)
    add(workspace, "ev", [(f"eval question {letters(j)} about kites and strings", f"ans {letters(j)}")
                          for j in range(20)], E, tmp=tmp_path)
    add(workspace, "ev16", [(f"other {j}", "x") for j in range(20)], np.ones((20, 16)) + np.eye(20, 16), "h",
        tmp=tmp_path)
    capsys.readouterr()
    assert main(["coverage", "train", "--eval", "ev", "--features", "g", "--k", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "train" and out["eval"] == "ev" and out["coverage"] == pytest.approx(0.5)
    assert {"per_eval", "uncovered", "contaminated"} <= set(out) and len(out["uncovered"]) == 10
    # every eval row whose nearest training row is at cosine >= 0.85 (dedup's threshold) is a gradient near-copy
    hits = {h["eval_id"]: h for h in out["contaminated"]}
    assert set(hits) == {f"ev{j}" for j in (*range(12), 12, 14)}
    assert {h["kind"] for h in hits.values()} == {"gradient"} and hits["ev12"]["train_id"] == "train6"
    assert hits["ev12"]["similarity"] == pytest.approx(1.0) and "evidence" in hits["ev12"]
    capsys.readouterr()
    assert main(["coverage", "train", "--eval", "ev16", "--features", "g", "--eval-features", "h", "--json"]) == 2
    err = capsys.readouterr().err
    assert "not comparable" in err and "dim: 64 for train vs 16 for ev16" in err
    assert main(["coverage", "train", "--eval", "ev", "--eval-features", "g", "--json"]) == 2  # model vs imported
    err = capsys.readouterr().err
    assert "not comparable" in err and "model:" in err


@pytest.mark.slow  # the real model end to end; the CLI's JSON, refusal and the maths run on synthetic features in the default run
def test_cli_coverage_and_select_toward_with_the_real_model(workspace, tmp_path):
    """The one real-model run (light features): 8 GSM8K rows as training, 3 eval rows of which one is an exact copy
    of a training row and one that row reworded; the JSON has the issue's shape and finds the copies (select --toward
    is run through the CLI on imported vectors in test_target_selection.py)."""
    from tests.helpers import DATA, run_cli

    rows = [json.loads(line) for line in open(DATA / "gsm8k_8.jsonl")]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    q, a = rows[2]["question"], rows[2]["answer"]
    evals = [{"question": q, "answer": a}, {"question": "Here is a problem for you. " + q, "answer": a},
             {"question": rows[7]["question"], "answer": rows[7]["answer"]}]
    (tmp_path / "ev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    for name in ("train", "ev"):
        assert run_cli(workspace, "ingest", tmp_path / f"{name}.jsonl", "--name", name).returncode == 0
    res = run_cli(workspace, "coverage", "train", "--eval", "ev", "--json", light=True)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert {"dataset", "eval", "coverage", "per_eval", "uncovered", "contaminated"} <= set(out)
    assert 0 <= out["coverage"] <= 1 and len(out["per_eval"]) == 3
    kinds = {(h["eval_id"], h["kind"]) for h in out["contaminated"]}
    ev_ids = [p["id"] for p in out["per_eval"]]
    assert (ev_ids[0], "exact") in kinds and ev_ids[1] in {e for e, _ in kinds}
    assert out["per_eval"][0]["similarity"] == pytest.approx(1.0, abs=1e-4)
