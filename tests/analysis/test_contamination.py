"""Contamination (issue 22): planted copies of training rows in an eval set are found with the right kind (exact,
normalised, MinHash text copy, gradient near-duplicate) and evidence; unrelated eval rows are not; the copies can be
excluded from the training set through the CLI (tags and exclusions, undoable)."""
import json
import random
import re

import numpy as np
import pytest

from core.analysis.contamination import find_contamination, marked_diff, normalise

D = 32


def problem(rng: random.Random) -> tuple[str, str]:
    words = [f"{rng.choice(['red', 'blue', 'tall', 'quick', 'old', 'new'])}{rng.randint(0, 999)}" for _ in range(30)]
    return (" ".join(words[:18]).capitalize() + ". How many are left?",
            " ".join(words[18:]) + f" so the answer is {rng.randint(1, 99)}.")


def renamed(row: tuple[str, str]) -> tuple[str, str]:
    """Every word of a problem() row changed, its numbers kept: a copy only the gradient (and the numbers) can see."""
    return tuple(re.sub(r"[a-z]+(?=\d)", "zz", text, flags=re.I).replace("so the answer is", "thus we get")
                 for text in row)


def planted(seed=0):
    """40 training rows; 10 eval rows: 0 an exact copy of train 3, 1 train 5's prompt in other case, punctuation and
    spacing with another answer, 2 train 7 reworded (a lead-in added, two words changed, same answer), 3 train 9
    renamed (every word changed, the numbers kept) with its gradient at cosine 0.95 to train 9's, 4 unrelated text
    (other numbers) whose gradient is at 0.95 to train 11's: a variant, 5-9 unrelated (text and gradient)."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    train = [problem(rng) for _ in range(40)]
    T = nrng.normal(size=(40, D)).astype(np.float32)
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    p5, _ = train[5]
    words7 = train[7][0].split()
    words7[2], words7[9] = "green", "seven"
    evals = [train[3], ("  " + p5.upper().replace(".", " !") + "  ", "a different answer entirely"),
             ("Here is a problem for you. " + " ".join(words7), train[7][1]), renamed(train[9])] + [
                 problem(rng) for _ in range(6)]
    E = nrng.normal(size=(10, D)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    E[0] = T[3]
    for j, i in ((3, 9), (4, 11)):
        orth = E[j] - (E[j] @ T[i]) * T[i]
        E[j] = 0.95 * T[i] + np.sqrt(1 - 0.95 ** 2) * orth / np.linalg.norm(orth)
    return evals, train, E, T


def test_each_planted_copy_is_found_with_its_kind_and_unrelated_rows_are_not():
    evals, train, E, T = planted()
    found = find_contamination(evals, train, E, T)
    by_eval = {h.eval_index: h for h in found.hits}
    assert sorted(by_eval) == [0, 1, 2, 3]  # rows 4-9 are no copies
    assert [(j, by_eval[j].train_index, by_eval[j].kind) for j in range(4)] == [
        (0, 3, "exact"), (1, 5, "normalised"), (2, 7, "minhash"), (3, 9, "gradient")]
    assert by_eval[0].signals == ("exact", "normalised", "contained", "minhash", "gradient")
    assert by_eval[1].signals == ("normalised",)  # another answer: MinHash of prompt + response stays below 0.5
    assert by_eval[2].signals == ("minhash",) and 0.5 <= by_eval[2].jaccard < 1
    assert by_eval[3].signals == ("gradient",) and by_eval[3].similarity == pytest.approx(0.95, abs=1e-4)
    assert len(found.hits) == 4 and found.train_indices() == [3, 5, 7, 9]
    # row 4: as close in gradient space as row 3, but its numbers are not train 11's: another problem
    assert [(h.eval_index, h.train_index, h.signals) for h in found.variants] == [(4, 11, ("gradient",))]


def test_without_features_only_the_text_signals_run():
    evals, train, _, _ = planted()
    found = find_contamination(evals, train)
    assert {(h.eval_index, h.kind) for h in found.hits} == {(0, "exact"), (1, "normalised"), (2, "minhash")}
    assert all(h.similarity is None for h in found.hits) and found.variants == []


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
    assert [(v["eval_id"], v["train_id"], v["kind"]) for v in out["variants"]] == [("ev4", "train11", "gradient")]
    variant = out["variants"][0]["evidence"]  # with evidence, as the copies: the texts, the diff, the numbers
    assert variant["eval_text"].startswith(evals[4][0]) and variant["diff"]
    assert variant["numbers_only_in_eval"] and all(n in evals[4][0] + evals[4][1]
                                                   for n in variant["numbers_only_in_eval"])
    assert out["contaminated"][0]["evidence"]["numbers_only_in_eval"] == []  # the exact copy keeps its numbers
    assert out["excluded"]["rows"] == 4 and out["n_train"] == 36  # variants are listed, never excluded
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
    train = [problem(rng) for _ in range(40)]
    evals = [problem(rng), renamed(train[5])]
    found = find_contamination(evals, train, E, T)
    assert found.gradient_threshold == pytest.approx(0.92, abs=1e-4)
    assert [(h.eval_index, h.train_index, h.kind) for h in found.hits] == [(1, 5, "gradient")]
    fixed = find_contamination(evals, train, E, T, ContaminationConfig(adaptive=False))
    assert fixed.gradient_threshold == 0.85 and {h.eval_index for h in fixed.hits + fixed.variants} == {0, 1}
    T_tight = np.stack([np.sqrt(0.99) * eye[0] + 0.1 * eye[1 + i] for i in range(40)])  # crowded at 0.99: capped
    assert find_contamination(evals, train, E, T_tight).gradient_threshold == pytest.approx(0.95)


PREAMBLE = ("Preamble: Reference the table below to solve the following problems.\n"
            "Element Na 5.14 Mg 7.64 Al 5.98 Si 8.15 P 10.48 S 10.36 Cl 13.01 Ar 15.75 Ca 6.11 Sc 6.54\n\n")
SUB0 = ("Subproblem 0: What is the first ionization energy (in J, to 3 decimal places) for Na?",
        "Multiply the ionization potential by the electronic charge of 1.6 x 10^-19 C: \\boxed{0.822} J.")
SUB1 = ("Subproblem 1: What is the first ionization energy (in J, to 2 decimal places) for Mg?",
        "Multiply the ionization potential by the electronic charge of 1.6 x 10^-19 C: \\boxed{1.22} J.")


def test_the_numbers_rule_sets_aside_other_numbers_and_sibling_subproblems_but_keeps_held_items():
    """MinHash pairs: a twin with other numbers (SVAMP's kind) and a sibling subproblem that shares the eval row's
    preamble and holds it as context are variants; a training row that holds the eval row's question and answer as its
    context is a copy, found by containment alone where that row is much longer; a reworded copy that writes a number
    out in words, or with a thousands separator, keeps its numbers."""
    from core.analysis.contamination import ContaminationConfig, numbers, numbers_agree

    twin_e = ("Jack received 6 emails in the morning and 2 emails in the afternoon. How many more emails did Jack "
              "receive in the morning than in the afternoon?", "( 6.0 - 2.0 ) = 4")
    twin_t = ("Jack received 6 emails in the morning and 8 emails in the afternoon. How many more emails did Jack "
              "receive in the afternoon than in the morning?", "( 8.0 - 6.0 ) = 2")
    sibling_e = (PREAMBLE + SUB0[0] + "\n\nSolution: " + SUB0[1] + "\n\n" + SUB1[0], SUB1[1])  # asks Mg, Na as context
    sibling_t = (PREAMBLE + SUB0[0], SUB0[1])  # asks Na: eval row 1's context, not its question
    held_e = (PREAMBLE + SUB0[0], SUB0[1])  # asks Na ...
    held_t = (PREAMBLE + SUB0[0] + "\n\nSolution: " + SUB0[1] + "\n\n" + SUB1[0], SUB1[1])  # ... answered here
    words_e = ("Tom has 5 boxes of 1200 pens and gives away 300 pens every day for a week. How many pens are left "
               "after the week?", "5 * 1200 = 6000; 300 * 7 = 2100; 6000 - 2100 = 3900. The answer is 3900.")
    words_t = ("Here is a problem for you. Tom has five boxes of 1,200 pens and gives away 300 pens every day for a "
               "week. What is the number of pens left after the week?", words_e[1])
    for e, t, copy in ((twin_e, twin_t, False), (sibling_e, sibling_t, False), (held_e, held_t, True)):
        found = find_contamination([e], [t])
        unruled = find_contamination([e], [t], config=ContaminationConfig(numbers_must_agree=False))
        assert len(unruled.hits) == 1 and "minhash" in unruled.hits[0].signals  # all three are text-alike
        assert unruled.variants == []
        assert (len(found.hits), len(found.variants)) == ((1, 0) if copy else (0, 1))
    long_t = (held_t[0], held_t[1] + " Then " + " ".join(f"step {k} uses the table row {k} of Mg" for k in range(40)))
    found = find_contamination([held_e], [long_t])  # the eval item inside a much longer row: Jaccard < 0.5
    assert [h.signals for h in found.hits] == [("contained",)] and found.hits[0].jaccard < 0.5
    assert found.hits[0].containment >= 0.9
    assert find_contamination([held_e], [long_t], config=ContaminationConfig(containment_threshold=None)).hits == []
    assert numbers_agree(words_e, words_t) and not numbers_agree(twin_e, twin_t)
    assert numbers("1,200 and 6.0 and 007 and 0.822, 3") == ["1200", "6", "7", "0.822", "3"]
    assert numbers("five boxes", words=True) == ["5"] and numbers("five boxes") == []
    assert not numbers_agree(("5 pens", "so 10"), ("5 pens", "so 11"))  # the final answer counts
