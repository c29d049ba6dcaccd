"""Search (DuckDB substring and regex) and more-like-this in gradient space (issue 13)."""
import numpy as np
import pytest

from core.analysis.search import more_like_this, search
from core.config import FeatureConfig
from core.data.ingest import ingest_file
from tests.conftest import DATA


@pytest.fixture()
def mix(store):
    store.save_dataset("mix", ingest_file(DATA / "mixture_24.jsonl"), source="x")
    return store


def test_search_returns_the_matching_rows_in_order(mix):
    frame = mix.samples_frame("mix")
    want = [i for i, p, r in zip(frame["id"], frame["prompt"], frame["response"])
            if "dollars" in p.lower() or "dollars" in r.lower()]
    hits = search(mix, "mix", "Dollars")
    assert [h.id for h in hits] == want and want
    regex = search(mix, "mix", r"\d+ dollars", regex=True)
    assert {h.id for h in regex} <= set(want) and all(h.start >= 0 for h in regex)
    with pytest.raises(ValueError, match="not a valid regular expression"):
        search(mix, "mix", "a(b", regex=True)
    mix.mark("mix", want[:1], "exclude")
    assert [h.id for h in search(mix, "mix", "dollars")] == want[1:]


def test_more_like_this_puts_the_row_first_at_similarity_one(mix):
    cfg = FeatureConfig(model="m", model_revision="r", dim=16)
    hashes = mix.missing_feature_hashes("mix", cfg)
    X = np.random.default_rng(0).normal(size=(len(hashes), 16)).astype(np.float32)
    mix.write_features(cfg, hashes, X)
    row = mix.samples("mix")[5].id
    near = more_like_this(mix, "mix", row, cfg.key(), 16, k=5)
    assert near[0][0] == row and near[0][1] == pytest.approx(1.0, abs=1e-5)
    assert len(near) == 5 and all(a[1] >= b[1] for a, b in zip(near[1:], near[2:]))
