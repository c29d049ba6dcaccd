"""The featuriser's memory budget (core/features/memory.py): the model of a batch's need, the token budget it picks,
the refusal up front, and the model checked against the real SmolLM2's peak RSS."""
import json
import subprocess
import sys
import textwrap

import pytest

from core.features.memory import GiB, MiB, MemoryBudgetError, MemoryModel, parse_size, token_budget
from tests.helpers import ROOT


def test_sizes_parse_in_the_units_people_write():
    assert parse_size("2G") == 2 * GiB and parse_size("1500M") == 1500 * MiB and parse_size("2GiB") == 2 * GiB
    assert parse_size("0.5g") == GiB // 2 and parse_size("123") == 123 and parse_size(None) is None
    for bad in ("two gigs", "-1G", "nanG", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_the_token_budget_is_the_most_that_fits_and_a_row_that_cannot_fit_is_refused_up_front():
    mm = MemoryModel(base=GiB, per_token=2 * MiB, what="features (fast)")
    assert token_budget(mm, max_length=256, max_memory=2 * GiB) == 512  # (2 GiB - 1 GiB) / 2 MiB
    assert mm.need(512) == 2 * GiB
    # a row longer than the budget still runs (alone) when it fits what the job may use
    assert token_budget(mm, max_length=500, max_memory=2 * GiB) == 512
    with pytest.raises(MemoryBudgetError) as e:
        token_budget(mm, max_length=1024, max_memory=2 * GiB)  # 1 GiB + 2 GiB > 2 GiB
    assert "1024 tokens" in str(e.value) and "3.00 GiB" in str(e.value) and "--max-memory" in str(e.value)


def test_the_default_budget_is_at_most_two_gib_on_a_cpu():
    mm = MemoryModel(base=256 * MiB, per_token=MiB, what="x")
    assert token_budget(mm, max_length=128) <= (2 * GiB - 256 * MiB) // MiB


PROBE = textwrap.dedent("""
    import json, resource, sys, torch
    sys.path.insert(0, {root!r})
    from core.features.compute import feature_config
    from core.features.batches import Batch
    from core.features.gradients import make_featurizer
    from core.features.memory import memory_model
    from core.features.models import load_model
    torch.manual_seed(0)
    lm = load_model()
    f = make_featurizer(lm.model, feature_config(), tokenizer=lm.tokenizer)
    mm = memory_model(f)
    B, T = 2, 384
    ids = torch.randint(100, 40000, (B, T))
    labels = torch.where(torch.arange(T)[None] >= T // 2, ids, -100)
    f.features(Batch(ids, torch.ones_like(ids), labels))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({{"need": mm.need(B * T), "peak": peak, "per_token": mm.per_token}}))
""")


def test_the_memory_model_bounds_the_real_models_peak_without_wasting_the_budget():
    """One real batch of 768 tokens through SmolLM2's fast featuriser: the peak RSS is within the model's need, and
    the need is not more than 1.6x the peak (a budget wasted on pessimism would shrink every batch)."""
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(ROOT))], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["peak"] <= got["need"], got
    assert got["need"] <= 1.6 * got["peak"], got
