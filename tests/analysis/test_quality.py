"""The quality read (issue 18): each kind of junk is flagged with its reason in words, read against the dataset's own
distribution; an `ok` tag overrides; and every rule honours it: sparse rules and the map, select, G-Vendi with and
without suspect rows. (Synthesis and pool acceptance: tests/synthesis/test_quality_screen.py.)"""
import json
import subprocess
import sys

import numpy as np
import pytest

from core.analysis.quality import assess, read_quality
from tests.conftest import cli_env


def clean_rows(n: int = 60, seed: int = 0):
    """Math-like rows: the response reuses the prompt's numbers and names; losses where the prompt helps (IFD ~0.7)."""
    rng = np.random.default_rng(seed)
    names = ["Ava", "Ben", "Cleo", "Dmitri", "Esme", "Farid", "Gwen", "Hiro"]
    things = ["apples", "marbles", "stickers", "pencils", "cookies", "tickets"]
    rows, losses = [], []
    for i in range(n):
        a, b = int(rng.integers(2, 90)), int(rng.integers(2, 90))
        who, what = names[i % len(names)], things[i % len(things)]
        rows.append((f"{who} has {a} {what} and buys {b} more. How many {what} does {who} have now?",
                     f"{who} starts with {a} {what}. After buying {b} more, {who} has {a} + {b} = {a + b} {what}. "
                     f"The answer is {a + b}."))
        loss = float(rng.uniform(0.9, 1.6))
        losses.append((loss, loss / float(rng.uniform(0.55, 0.85))))
    return rows, losses


JUNK = {  # kind -> (response, loss, loss_alone, the rule that must say why)
    "emoji": ("😀😂🤣😍😎🤔🙄😴🥳🤯" * 15, 2.0, 2.05, "symbols"),
    "other script": ("首先我们计算每个人分到的苹果数量，然后把剩下的苹果加起来。答案是十二。", 2.2, 2.25, "script"),
    "repeated word": (" ".join(["the"] * 300), 0.6, 1.2, "repetitive"),
    "random letters": ("qzxv plmok wertyu asdfgh jklzx cvbnm qwpoei rutyal skdjfh gmznxb " * 3, 6.4, 6.4, "hard"),
    "number list": (", ".join(str(i) for i in range(40, 160)), 0.07, 0.075, "degenerate"),
    "mismatched": ("Wendy drives 120 miles at 60 miles per hour, so the trip takes 120 / 60 = 2 hours. The answer is "
                   "2.", 1.3, 1.28, "unrelated"),
    "refusal": ("I'm sorry, but I can't help with that request.", 1.9, 1.8, "unrelated"),
}


def test_each_kind_of_junk_is_suspect_with_its_reason_and_clean_rows_are_not():
    rows, losses = clean_rows()
    ids = [f"c{i}" for i in range(len(rows))]
    for kind, (response, loss, alone, _) in JUNK.items():
        rows.append((rows[0][0], response))
        losses.append((loss, alone))
        ids.append(kind)
    q = assess(ids, rows, losses)
    suspect = set(q.suspect_ids())
    assert not {i for i in suspect if i.startswith("c")}, [q.reasons[ids.index(i)] for i in suspect if i[0] == "c"]
    for kind, (*_, rule) in JUNK.items():
        codes = [c for c, _ in q.reasons[ids.index(kind)]]
        assert kind in suspect and rule in codes, (kind, q.reasons[ids.index(kind)])
    words = dict(q.reasons[ids.index("emoji")])["symbols"]
    assert "100% of the response is symbols or emoji" in words  # reasons are words, with the numbers behind them
    assert "IFD 1.02" in dict(q.reasons[ids.index("mismatched")])["unrelated"]


def test_thresholds_come_from_the_dataset_not_from_constants():
    """The same response is ordinary in one dataset and suspect in another: a row is read against its own rows."""
    rows, losses = clean_rows()
    long_loss = [(l * 3.0, a * 3.0) for l, a in losses]  # a dataset the proxy finds three times harder
    q_easy = assess([str(i) for i in range(61)], rows + [rows[1]], losses + [(4.4, 6.0)])
    q_hard = assess([str(i) for i in range(61)], rows + [rows[1]], long_loss + [(4.4, 6.0)])
    assert "hard" in dict(q_easy.reasons[60]) and not q_hard.reasons[60]


def with_junk(store, tmp_path, n_clean: int = 40):
    """A dataset of clean rows and three junk rows, with its losses and (random) features stored as a feature set
    whose key the quality read uses: no model runs."""
    from core.config import FeatureConfig
    from core.data.ingest import ingest_file

    rows, losses = clean_rows(n_clean)
    junk = ["emoji", "other script", "mismatched"]
    lines = [{"id": f"c{i}", "prompt": p, "response": r} for i, (p, r) in enumerate(rows)]
    lines += [{"id": k.replace(" ", "-"), "prompt": rows[0][0], "response": JUNK[k][0]} for k in junk]
    path = tmp_path / "mix.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    store.save_dataset("mix", ingest_file(path), source="x")
    cfg = FeatureConfig(model="m", dim=16)
    samples = store.samples("mix", "all")
    hashes = [s.content_hash for s in samples]
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 16))  # clean rows in four groups
    X = (centres[np.arange(len(hashes)) % 4] + 0.3 * rng.normal(size=(len(hashes), 16))).astype(np.float32)
    X[-3:] = 5 * np.eye(16)[:3] - centres.mean(axis=0)  # junk away from everything: the rules' first pick
    all_losses = losses + [JUNK[k][1:3] for k in junk]
    store.write_features(cfg, hashes, X, losses=np.array([l for l, _ in all_losses]))
    store.write_losses(cfg.key(), hashes, "loss_alone", np.array([a for _, a in all_losses]))
    return cfg, [s.id for s in samples], ["emoji", "other-script", "mismatched"]


def test_the_map_leaves_suspect_rows_out_of_the_rules_and_an_ok_tag_brings_one_back(store, tmp_path):
    from core.analysis.clusters import ClusterConfig
    from core.analysis.gradient_map import build_map

    cfg, ids, junk = with_junk(store, tmp_path)
    gmap = build_map(store, "mix", cfg.key(), cfg.dim, cluster_config=ClusterConfig(k=4, rule="density"))
    suspect = {i for i, s in zip(gmap.ids, gmap.suspect) if s}
    assert suspect == set(junk)
    assert not any(s for i, s in zip(gmap.ids, gmap.sparse_rows) if i in suspect)  # never a "grow here" flag
    # without the quality read the same junk (far from everything) is the density rule's first pick
    from core.analysis.clusters import cluster

    _, X = store.load_features("mix", cfg.key(), cfg.dim)
    plain = cluster(X, ClusterConfig(k=4, rule="density"))
    assert all(plain.sparse_rows[gmap.ids.index(j)] for j in junk)

    store.mark("mix", ["emoji"], "tag", "ok")  # the user's override: the map is rebuilt, emoji is a row like others
    again = build_map(store, "mix", cfg.key(), cfg.dim, cluster_config=ClusterConfig(k=4, rule="density"))
    assert again.key != gmap.key
    assert {i for i, s in zip(again.ids, again.suspect) if s} == {"other-script", "mismatched"}
    q = read_quality(store, "mix", cfg.key())
    assert q.to_json()["overridden"] == ["emoji"]


def test_g_vendi_is_given_with_and_without_the_suspect_rows(store, tmp_path):
    from core.analysis.diversity import vendi_score
    from core.analysis.scoring import clean_score

    cfg, ids, junk = with_junk(store, tmp_path)
    value, n_suspect = clean_score(store, "mix", cfg.key(), cfg.dim)
    kept_ids, X = store.load_features("mix", cfg.key(), cfg.dim)
    mask = np.array([i not in junk for i in kept_ids])
    assert n_suspect == 3 and value == pytest.approx(vendi_score(X[mask]), rel=1e-5)
    assert value != pytest.approx(vendi_score(X), rel=1e-3)


def test_select_skips_suspect_rows_by_default_and_says_how_many(workspace, tmp_path):
    """Through the real CLI, with an imported feature set (no model): junk far from everything is what a
    diversity-maximising selection takes first; by default it is skipped and counted, --include-suspect allows it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, _ = clean_rows(40)
    junk = {"emoji": JUNK["emoji"][0], "script": JUNK["other script"][0], "repeat": JUNK["repeated word"][0]}
    lines = [{"id": f"c{i}", "prompt": p, "response": r} for i, (p, r) in enumerate(rows)]
    lines += [{"id": k, "prompt": rows[0][0], "response": v} for k, v in junk.items()]
    data = tmp_path / "mix.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    rng = np.random.default_rng(0)
    base = rng.normal(size=16)
    vecs = base + 0.3 * rng.normal(size=(len(lines), 16))
    vecs[-3:] = 5 * np.eye(16)[:3]  # the junk points away from the rest
    pq.write_table(pa.table({"id": [r["id"] for r in lines], "vec": vecs.tolist()}), tmp_path / "v.parquet")

    def cli(*args):
        res = subprocess.run([sys.executable, "-m", "core", *args], env=cli_env(workspace), capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        return json.loads(res.stdout) if "--json" in args else res

    cli("ingest", str(data), "--name", "mix")
    cli("import-vectors", "mix", str(tmp_path / "v.parquet"), "--set", "mine")
    picked = cli("select", "mix", "--budget", "5", "--features", "mine", "--json")
    assert picked["skipped_suspect"] == 3 and not set(picked["ids"]) & set(junk)
    everything = cli("select", "mix", "--budget", "5", "--features", "mine", "--include-suspect", "--json")
    assert set(junk) <= set(everything["ids"]) and everything["skipped_suspect"] == 0
    cli("tag", "mix", "--id", "emoji", "--tag", "ok")  # the user vouches for one: it may be picked again
    vouched = cli("select", "mix", "--budget", "5", "--features", "mine", "--json")
    assert vouched["skipped_suspect"] == 2 and "emoji" in vouched["ids"] and not {"script", "repeat"} & set(
        vouched["ids"])
    report = cli("quality", "mix", "--text-only", "--json")
    assert {s["id"] for s in report["suspect"]} == {"script", "repeat"} and report["overridden"] == ["emoji"]
    assert report["n"] == 43 and all(s["reasons"] for s in report["suspect"])


def test_a_good_minority_of_long_solutions_among_short_answers_is_not_junk():
    """Loss per token and compression fall and rise with length: read against the dataset's median, every long
    solution in a dataset of one-line answers was 'repetitive' and 'degenerate', and every one-line answer whose
    prompt hardly helps (IFD ~1 on a few tokens) 'unrelated' (bench/quality.py's diverse minority: 7 of 7 and 34 of
    60). Read against the trend with length, neither is suspect; junk of either length still is."""
    rng = np.random.default_rng(1)
    rows, losses, ids = [], [], []
    for i in range(90):  # answer-only rows: the answer is not in the prompt, the prompt barely helps
        a, b = int(rng.integers(10, 99)), int(rng.integers(10, 99))
        rows.append((f"Tom has {a} cards and gets {b} more. How many now?", f"The answer is {a + b}."))
        loss = float(rng.uniform(1.8, 2.8))
        losses.append((loss, loss / float(rng.uniform(0.85, 1.2))))
        ids.append(f"short{i}")
    steps = " ".join(f"Step {k}: we expand the term and collect the coefficients of x^{k}, which gives {k * 3} + "
                     f"{k}x." for k in range(1, 9))
    for i in range(10):  # long, repetitive-looking worked solutions: compress ~2.5x, easy per token
        rows.append((f"Expand (1 + x)^{i + 8} and find the coefficient sum.", steps + f" So the sum is {2 ** (i + 8)}."))
        loss = float(rng.uniform(0.9, 1.3))
        losses.append((loss, loss / float(rng.uniform(0.6, 0.8))))
        ids.append(f"long{i}")
    rows.append((rows[0][0], ", ".join(str(k) for k in range(100, 260))))  # junk: a number list, long and trivial
    losses.append((0.08, 0.08))
    ids.append("numbers")
    q = assess(ids, rows, losses)
    suspect = set(q.suspect_ids())
    assert suspect == {"numbers"}, {i: q.reasons[ids.index(i)] for i in suspect}
    assert "degenerate" in dict(q.reasons[ids.index("numbers")])


def test_markup_and_encoded_noise_are_named_for_what_they_are():
    rows, losses = clean_rows()
    ids = [f"c{i}" for i in range(len(rows))]
    html = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Page not found</title></head><body><div '
            'class="nav"><a href="/">Home</a></div><p>404</p></body></html>')
    b64 = "5A8A2ZcVK6OLdCQm+k6dlIxYmte7VcIehAYh5HQkz/QiJft+m1Ic9FhRAt5OVIbeS5XkKwK8hnHl1DZy" * 3
    for kind, text, loss in (("html", html, 1.6), ("b64", b64, 1.5)):  # losses ordinary: only the text tells
        rows.append((rows[0][0], text))
        losses.append((loss, loss * 1.3))
        ids.append(kind)
    q = assess(ids, rows, losses)
    assert "markup" in dict(q.reasons[ids.index("html")]) and "noise" in dict(q.reasons[ids.index("b64")])
    assert not [i for i in q.suspect_ids() if i.startswith("c")]
