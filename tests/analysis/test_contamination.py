"""Contamination (issue 22): planted copies of training rows in an eval set are found with the right kind (exact,
normalised, MinHash text copy, gradient near-duplicate) and evidence; unrelated eval rows are not; the copies can be
excluded from the training set through the CLI (tags and exclusions, undoable)."""
import json
import random

import numpy as np
import pytest

from core.analysis.contamination import find_contamination, marked_diff, normalise

D = 32


def problem(rng: random.Random) -> tuple[str, str]:
    words = [f"{rng.choice(['red', 'blue', 'tall', 'quick', 'old', 'new'])}{rng.randint(0, 999)}" for _ in range(30)]
    return (" ".join(words[:18]).capitalize() + ". How many are left?",
            " ".join(words[18:]) + f" so the answer is {rng.randint(1, 99)}.")


def planted(seed=0):
    """40 training rows; 10 eval rows: 0 an exact copy of train 3, 1 train 5's prompt in other case, punctuation and
    spacing with another answer, 2 train 7 reworded (a lead-in added, two words changed, same answer), 3 unrelated text
    whose gradient is at cosine 0.95 to train 9's, 4-9 unrelated (text and gradient)."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    train = [problem(rng) for _ in range(40)]
    T = nrng.normal(size=(40, D)).astype(np.float32)
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    p5, _ = train[5]
    words7 = train[7][0].split()
    words7[2], words7[9] = "green", "seven"
    evals = [train[3], ("  " + p5.upper().replace(".", " !") + "  ", "a different answer entirely"),
             ("Here is a problem for you. " + " ".join(words7), train[7][1])] + [problem(rng) for _ in range(7)]
    E = nrng.normal(size=(10, D)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    E[0] = T[3]
    orth = E[3] - (E[3] @ T[9]) * T[9]
    E[3] = 0.95 * T[9] + np.sqrt(1 - 0.95 ** 2) * orth / np.linalg.norm(orth)
    return evals, train, E, T


def test_each_planted_copy_is_found_with_its_kind_and_unrelated_rows_are_not():
    evals, train, E, T = planted()
    found = find_contamination(evals, train, E, T)
    by_eval = {h.eval_index: h for h in found.hits}
    assert sorted(by_eval) == [0, 1, 2, 3]  # rows 4-9 unrelated: never listed
    assert [(j, by_eval[j].train_index, by_eval[j].kind) for j in range(4)] == [
        (0, 3, "exact"), (1, 5, "normalised"), (2, 7, "minhash"), (3, 9, "gradient")]
    assert by_eval[0].signals == ("exact", "normalised", "minhash", "gradient")
    assert by_eval[1].signals == ("normalised",)  # another answer: MinHash of prompt + response stays below 0.5
    assert by_eval[2].signals == ("minhash",) and 0.5 <= by_eval[2].jaccard < 1
    assert by_eval[3].signals == ("gradient",) and by_eval[3].similarity == pytest.approx(0.95, abs=1e-4)
    assert len(found.hits) == 4 and found.train_indices() == [3, 5, 7, 9]


def test_without_features_only_the_text_signals_run():
    evals, train, _, _ = planted()
    found = find_contamination(evals, train)
    assert {(h.eval_index, h.kind) for h in found.hits} == {(0, "exact"), (1, "normalised"), (2, "minhash")}
    assert all(h.similarity is None for h in found.hits)


def test_evidence_marks_the_words_that_differ():
    evals, train, E, T = planted()
    out = find_contamination(evals, train, E, T).to_json([f"e{j}" for j in range(10)],
                                                         [f"t{i}" for i in range(40)], evals, train)
    reworded = next(h for h in out if h["eval_id"] == "e2")
    assert reworded["train_id"] == "t7" and reworded["kind"] == "minhash"
    assert reworded["evidence"]["eval_text"].startswith("Here is a problem for you.")
    diff = reworded["evidence"]["diff"]
    assert diff.startswith("[-Here is a problem for you.-]") and "[-green-]" in diff and "[-seven-]" in diff
    assert marked_diff("a b c", "a x c") == "a [-b-] {+x+} c"
    assert normalise("  Hello,   WORLD! ") == "hello world"


def test_cli_excludes_the_training_copies_and_the_exclusion_can_be_undone(workspace, tmp_path, capsys):
    from core.cli import main
    from tests.analysis.test_coverage import add

    evals, train, E, T = planted()
    add(workspace, "train", train, T, tmp=tmp_path)
    add(workspace, "ev", evals, E, tmp=tmp_path)
    capsys.readouterr()
    assert main(["coverage", "train", "--eval", "ev", "--features", "g", "--exclude-contaminated", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {(h["eval_id"], h["train_id"], h["kind"]) for h in out["contaminated"]} == {
        ("ev0", "train3", "exact"), ("ev1", "train5", "normalised"), ("ev2", "train7", "minhash"),
        ("ev3", "train9", "gradient")}
    assert out["excluded"]["rows"] == 4 and out["n_train"] == 36
    assert main(["coverage", "train", "--eval", "ev", "--features", "g", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["contaminated"] == [] and again["n_train"] == 36  # the copies are out of the kept rows
    from core.data.store import Store

    with Store() as store:
        assert store.tagged("train", "contaminates:ev") == ["train3", "train5", "train7", "train9"]
    assert main(["tag", "train", "--undo", out["excluded"]["action_id"]]) == 0
    capsys.readouterr()
    assert main(["coverage", "train", "--eval", "ev", "--features", "g", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_train"] == 40


def test_where_training_rows_crowd_above_the_dedup_threshold_the_gradient_signal_rises_with_them():
    """40 training rows at cosine 0.92 from one another (a crowded region): an eval row at 0.90 to all of them is no
    copy there, while one at 0.98 to a single row is; a fixed 0.85 would flag both, a fixed cap keeps it <= 0.95."""
    from core.analysis.contamination import ContaminationConfig

    d, a = 64, np.sqrt(0.92)
    eye = np.eye(d, dtype=np.float32)
    T = np.stack([a * eye[0] + np.sqrt(1 - a * a) * eye[1 + i] for i in range(40)])
    a2 = 0.90 / a
    E = np.stack([a2 * eye[0] + np.sqrt(1 - a2 * a2) * eye[50], 0.98 * T[5] + np.sqrt(1 - 0.98 ** 2) * eye[51]])
    rng = random.Random(1)
    train, evals = [problem(rng) for _ in range(40)], [problem(rng) for _ in range(2)]
    found = find_contamination(evals, train, E, T)
    assert found.gradient_threshold == pytest.approx(0.92, abs=1e-4)
    assert [(h.eval_index, h.train_index, h.kind) for h in found.hits] == [(1, 5, "gradient")]
    fixed = find_contamination(evals, train, E, T, ContaminationConfig(adaptive=False))
    assert fixed.gradient_threshold == 0.85 and {h.eval_index for h in fixed.hits} == {0, 1}
    T_tight = np.stack([np.sqrt(0.99) * eye[0] + 0.1 * eye[1 + i] for i in range(40)])  # crowded at 0.99: capped
    assert find_contamination(evals, train, E, T_tight).gradient_threshold == pytest.approx(0.95)
