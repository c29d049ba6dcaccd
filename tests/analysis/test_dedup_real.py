"""Dedup on real gradient features (the embedded SmolLM2, default fast mode): 8 GSM8K rows plus a copy of one with
its name changed and a copy of another reworded around the same facts. At the default threshold the two planted
pairs are found and none of the untouched rows is flagged; the threshold curve is monotone (issue 13)."""
import json

import pytest

from core.analysis.curation import dedup_report
from core.analysis.dedup import CURVE, DEFAULT_THRESHOLD
from core.data.ingest import IngestReport, Sample, content_hash
from core.features.compute import compute_features, feature_config
from tests.conftest import DATA


@pytest.mark.slow  # real default features of 10 rows; the grouping, threshold and kept row are tested on planted vectors in test_dedup.py
def test_renamed_and_reworded_copies_are_found_and_nothing_else(store):
    rows = [json.loads(line) for line in open(DATA / "gsm8k_8.jsonl")]
    pairs = [(r["question"], r["answer"]) for r in rows]
    (q0, a0), (q1, a1) = pairs[0], pairs[1]
    renamed = (q0.replace("Natalia", "Maria"), a0.replace("Natalia", "Maria"))
    reworded = ("A student asks: " + q1.replace("How much", "What amount"), a1)
    assert renamed != pairs[0] and reworded != pairs[1]
    samples = [Sample(f"r{i}", p, r, content_hash(p, r), {}) for i, (p, r) in enumerate(pairs + [renamed, reworded])]
    store.save_dataset("planted", IngestReport(samples, [], [], "test"), source="test")
    config = feature_config()
    compute_features(store, "planted", config)

    report = dedup_report(store, "planted", config.key(), config.dim)
    assert report["threshold"] == DEFAULT_THRESHOLD
    assert sorted(sorted(g) for g in report["groups"]) == [["r0", "r8"], ["r1", "r9"]]
    assert report["rows_flagged"] == 2  # one per group: the copies, or their originals, never an untouched row
    counts = [report["curve"][f"{t:.2f}"] for t in CURVE]
    assert all(a >= b for a, b in zip(counts, counts[1:]))
