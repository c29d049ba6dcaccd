"""Synthesis and pool acceptance honour the quality read (issue 18): a candidate that reads as junk against the
seed's own distribution is rejected as "suspect" with its reasons in words, never accepted, never drawn by the control
arm; the seed's own suspect rows take no part in the round's clustering. Real model, light feature config."""
import json

import numpy as np
import pytest

from tests.helpers import DATA, light_config

JUNK = {"j-emoji": "😀😂🤣😍😎🤔🙄😴🥳🤯" * 15,
        "j-script": "首先我们计算每个人分到的苹果数量，然后把剩下的苹果加起来。答案是十二。",
        "j-repeat": " ".join(["the"] * 300)}


@pytest.mark.slow  # a real-model pool run; the screen alone is the next test, pool runs are test_pools.py
def test_a_pool_run_rejects_suspect_candidates_with_their_reasons(workspace, tmp_path):
    from core.data.ingest import ingest_file
    from core.data.store import Store
    from core.synthesis.loop import SynthesisConfig, candidates_frame, run_synthesis

    pool = [json.loads(l) for l in (DATA / "pool_16.jsonl").read_text().splitlines()][:6]
    pool += [{"id": k, "question": pool[0]["question"], "answer": v} for k, v in JUNK.items()]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pool), encoding="utf-8")
    light = light_config(max_length=64)
    with Store() as store:
        store.save_dataset("seed", ingest_file(DATA / "mixture_24.jsonl"), source="x")
        store.save_dataset("cands", ingest_file(path), source="x")
        config = SynthesisConfig(source="pool", pool="cands", rounds=1, pool_batch=9, k=4, rule="paper")
        summary = run_synthesis(store, "seed", config, None, light)
        frame = candidates_frame(store, summary["run_id"])
    assert summary["status"] == "done" and len(frame) == 9
    junk = frame[frame["source_id"].isin(list(JUNK))]
    assert set(junk["reason"]) == {"suspect"} and not junk["accepted"].any() and not junk["control"].any()
    reasons = {r.source_id: json.loads(r.quality) for r in junk.itertuples()}
    assert any("symbols or emoji" in t for t in reasons["j-emoji"])
    assert any("CJK script" in t for t in reasons["j-script"])
    assert any("repeats itself" in t for t in reasons["j-repeat"])
    clean = frame[~frame["source_id"].isin(list(JUNK))]
    assert "suspect" not in set(clean["reason"]) and summary["rejected"].get("suspect") == 3


def test_screen_reads_candidates_against_the_seed_reference(store):
    """The screen on its own (no model: the candidates' losses are in the store already)."""
    from core.analysis.quality import assess
    from core.config import FeatureConfig
    from core.synthesis.acceptance import screen
    from tests.analysis.test_quality import clean_rows

    rows, losses = clean_rows(50)
    ref = assess([str(i) for i in range(50)], rows, losses).reference
    cfg = FeatureConfig(model="m", dim=8)
    cands = [{"problem": rows[0][0], "solution": rows[0][1], "content_hash": "h-good"},
             {"problem": rows[1][0], "solution": "I'm sorry, but I can't help with that request.",
              "content_hash": "h-refusal"}]
    store.write_losses(cfg.key(), ["h-good", "h-refusal"], "loss", np.array([1.1, 1.9]))
    store.write_losses(cfg.key(), ["h-good", "h-refusal"], "loss_alone", np.array([1.7, 1.8]))

    class Featurizer:  # what screen needs of one: its config (the model is not touched: losses are cached)
        config, model, tokenizer = cfg, None, None

    mask = screen(store, Featurizer(), cands, ref)
    assert mask.tolist() == [False, True]
    assert cands[1]["reason"] == "suspect" and any("IFD 1.06" in t for t in cands[1]["quality"])
    assert "reason" not in cands[0]
