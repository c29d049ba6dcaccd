"""A synthesis run's records: its row (status, summary), its rounds, its candidates; and reading them back.

A run's id is the hash of its dataset, settings, candidate source and feature config (plan.run_id_for): launching
the same settings again resumes (or joins) the same run. The tables belong to core/data/synthesis_runs.py (the
store's methods), where every write that must land together is one transaction: a step's candidates; a round's
clustering with its row; a round's control draw with its scores and its 'done'. This module opens and closes a run,
builds its summary and redacts what it stores.
"""
from __future__ import annotations

import dataclasses

from core.data.store import Store
from core.synthesis.config import SynthesisConfig
from core.synthesis.credentials import redact
from core.synthesis.plan import run_id_for

REASONS = ("accepted", "dense cluster", "off target", "duplicate", "suspect", "no majority", "no answer",
           "parse failure", "generation error", "solution error")  # suspect: the quality read's (acceptance.screen), with why


def start_run(store: Store, dataset: str, config: SynthesisConfig, source_name: str, feature_config) -> str:
    """A new run, or the unfinished run of the same dataset, settings and source (so a restart resumes it).

    Atomic: two launches of the same settings get the same run (the second joins it). Candidates that failed to
    generate in rounds not yet done are dropped, so a relaunch (after fixing a key, say) sends those requests again;
    final answers of the endpoint are in the request cache and cost nothing to replay."""
    fingerprint = store.fingerprint(config.toward) if config.toward else None
    run_id = run_id_for(dataset, config, source_name, feature_config.key(), fingerprint)
    store.open_synth_run(run_id, dataset, dataclasses.asdict(config), source_name, feature_config.key())
    return run_id


def write_candidates(store: Store, run_id: str, rows: list[dict]) -> None:
    """A step's candidates in one transaction: a kill leaves the whole step or none of it."""
    store.add_candidates(run_id, rows)


def finish_round(store: Store, run_id: str, rnd: int, control: list[tuple], scores: dict) -> None:
    """The round's control draw, its scores and its 'done', in one transaction."""
    store.finish_round(run_id, rnd, control, scores)


def close_run(store: Store, run_id: str, status: str, error: str | None = None, notices: list[str] = (),
              extra: dict | None = None) -> dict:
    """The run's final status and summary; `notices` are what the user must know about how it ran (e.g. the
    embedded generator fell back from llama.cpp to transformers, and why); `extra` more of the summary (a run
    toward an eval set: its coverage before and after, toward.coverage_report)."""
    summary = summarize(store, run_id) | {"status": status, "error": redact(error), "notices": list(notices)}
    summary |= extra or {}
    store.close_synth_run(run_id, status, summary)
    return summary


def round_failure(store: Store, run_id: str, rnd: int) -> str | None:
    """Why a round produced nothing at all, when every request of it failed (e.g. a wrong key): never 'done'."""
    rows = store.round_errors(run_id, rnd)
    if rows and all(reason in ("generation error", "solution error") for reason, _ in rows):
        first = next((raw for _, raw in rows if raw), "no reply")
        return redact(f"every request of round {rnd} failed ({len(rows)} candidates); first error: {first[:300]}")
    return None


def summarize(store: Store, run_id: str) -> dict:
    run = store.synth_run(run_id)
    if run is None:
        raise KeyError(f"no synthesis run {run_id!r}")
    stored = run["summary"]
    reasons = store.reason_counts(run_id)
    per_round = store.done_rounds(run_id)
    last = per_round[-1] if per_round else {}
    return {"run_id": run_id, "dataset": run["dataset"], "generator": run["generator"], "status": run["status"],
            "error": redact(stored.get("error")), "notices": stored.get("notices", []),
            "source": run["config"].get("source", "generator"),
            "rounds": len(per_round), "accepted": reasons.get("accepted", 0),
            "control_accepted": sum(r["control_accepted"] or 0 for r in per_round),
            "rejected": {k: v for k, v in reasons.items() if k != "accepted"},
            "g_vendi_before": per_round[0]["g_vendi_before"] if per_round else None,
            "g_vendi_after": last.get("g_vendi_after"), "g_vendi_control": last.get("g_vendi_control"),
            "embedding_vendi_after": last.get("embedding_vendi_after"),
            "embedding_vendi_control": last.get("embedding_vendi_control"),
            "per_round": per_round, **({"toward": stored["toward"]} if stored.get("toward") else {})}


def candidates_frame(store: Store, run_id: str):
    return store.candidates_frame(run_id)


def runs_for(store: Store, dataset: str) -> list[dict]:
    return store.synth_runs_of(dataset)
