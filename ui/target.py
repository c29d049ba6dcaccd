"""Target page glue: the training and eval datasets (kept in the URL), the report (core/analysis/target_view.py,
memoised per content), its figures, the contamination list with an undoable exclusion, the variants beside it, and
targeted growth (a pool run toward the eval set, launched through core/synthesis/launch.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis import target_view as tv
from ui.analysis import PageOptions
from ui.state import get_runner, get_store


def pick_pair(opts: PageOptions) -> tuple[str | None, str | None]:
    """(training dataset, eval dataset), among datasets analysed under the options; kept in the URL."""
    store = get_store()
    fc = opts.feature_config()
    names = store.dataset_names()
    ok = [d for d in names if store.feature_coverage(d, fc.key(), fc.dim) >= 2]  # rows kept or not (exclusions)
    if len(ok) < 2:
        why = [d for d in names if d not in ok]
        st.info("Analyse at least two datasets under these options (a training set and an eval set) on the "
                "Gradient space page." + (f" Not analysed yet: {', '.join(why)}." if why else ""))
        return None, None
    c1, c2 = st.columns(2)
    want_t, want_e = st.query_params.get("train"), st.query_params.get("eval")
    train = c1.selectbox("Training dataset", ok, index=ok.index(want_t) if want_t in ok else 0, key="target-train")
    others = [d for d in ok if d != train]
    evals = c2.selectbox("Eval dataset", others, index=others.index(want_e) if want_e in others else len(others) - 1,
                         key=f"target-eval-{train}")
    st.query_params.update({"train": train, "eval": evals})
    return train, evals


def report(train: str, evals: str, opts: PageOptions) -> tv.TargetReport | None:
    """The report, recomputed only when either dataset's kept rows or the options change."""
    store = get_store()
    key = (train, evals, store.fingerprint(train), store.fingerprint(evals), opts.feature_config().key())
    memo = st.session_state.setdefault("target-reports", {})
    if key not in memo:
        try:
            with st.spinner("Measuring coverage and looking for copies…"):
                memo.clear()
                memo[key] = tv.target_report(store, train, evals, opts.feature_config())
        except ValueError as exc:  # identities differ, or too few rows with features
            st.error(str(exc))
            return None
    return memo[key]


def curve_figure(curve: dict, evals: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, label, colour in (("toward", f"chosen toward {evals} (facility location)", "#E45756"),
                                ("random", "random rows", "#9D9D9D")):
        fig.add_trace(go.Scatter(x=curve["k"], y=curve[name], mode="lines+markers", name=label,
                                 line=dict(color=colour)))
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="training rows (budget)",
                      yaxis=dict(title="eval coverage", range=[0, 1.02]), legend=dict(orientation="h", y=1.1))
    return fig


def shared_map_figure(rep: tv.TargetReport, opts: PageOptions):
    """Both datasets on one map (compare.shared_map, fitted on their union), uncovered eval rows marked."""
    import plotly.graph_objects as go

    from core.analysis.compare import shared_map

    fc = opts.feature_config()
    m = shared_map(get_store(), [rep.train, rep.eval], fc.key(), fc.dim, method="union", seed=opts.seed)
    uncovered = set(rep.uncovered_ids)
    is_eval = m.owner == 1
    bad = np.array([e and i in uncovered for e, i in zip(is_eval, m.ids)], dtype=bool)
    fig = go.Figure()
    for mask, name, style in ((~is_eval, f"{rep.train} (training)", dict(color="#4C78A8", size=5)),
                              (is_eval & ~bad, f"{rep.eval}: covered", dict(color="#54A24B", size=8,
                                                                              symbol="diamond")),
                              (bad, f"{rep.eval}: uncovered", dict(color="#E45756", size=10, symbol="x"))):
        idx = np.flatnonzero(mask)
        fig.add_trace(go.Scattergl(x=m.xy[idx, 0], y=m.xy[idx, 1], mode="markers", name=f"{name} ({len(idx)})",
                                   marker=style, opacity=0.75, text=[m.ids[i] for i in idx],
                                   hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.05),
                      xaxis=dict(visible=False), yaxis=dict(visible=False), plot_bgcolor="white")
    return fig


def around_change(diff: str, width: int = 300) -> str:
    """`width` characters of a marked diff, from a little before its first change (a long row's change can sit past
    the first `width` characters)."""
    marks = [i for i in (diff.find("[-"), diff.find("{+")) if i >= 0]
    start = max(0, min(marks) - 60) if marks else 0
    return ("…" if start else "") + diff[start:start + width]


def _pairs_frame(rep: tv.TargetReport, pairs: list[dict], extra: dict) -> pd.DataFrame:
    """One row per (eval row, training row) pair: both named 'row N · first words' (their ids last), the kind, the
    signals, the scores, `extra`'s columns (name -> f(pair)) and the marked diff from just before its first change."""
    from core.analysis.row_detail import row_names

    store = get_store()
    evals = row_names(store, rep.eval, sorted({h["eval_id"] for h in pairs}))
    trains = row_names(store, rep.train, sorted({h["train_id"] for h in pairs}))
    columns = ["eval row", "training row", "kind", "signals", "gradient cosine", "Jaccard", *extra,
               "training text (vs eval)", "eval id", "training id"]
    rows = [{"eval row": evals.get(h["eval_id"], h["eval_id"]), "training row": trains.get(h["train_id"], h["train_id"]),
             "kind": h["kind"], "signals": ", ".join(h["signals"]), "gradient cosine": h["similarity"],
             "Jaccard": h["jaccard"], **{name: f(h) for name, f in extra.items()},
             "training text (vs eval)": around_change((h.get("evidence") or {}).get("diff", "")),
             "eval id": h["eval_id"], "training id": h["train_id"]} for h in pairs]
    return pd.DataFrame(rows, columns=columns)


def contamination_table(rep: tv.TargetReport) -> pd.DataFrame:
    return _pairs_frame(rep, rep.contaminated, {})


def variants_table(rep: tv.TargetReport) -> pd.DataFrame:
    """The variants: eval rows with a near-copy in training whose numbers or answer differ (not contamination)."""
    return _pairs_frame(rep, rep.variants, {"numbers only in eval": lambda h: ", ".join(
        (h.get("evidence") or {}).get("numbers_only_in_eval", []))})


def exclusion_buttons(rep: tv.TargetReport) -> None:
    """Exclude the training copies (tag + exclude), and undo that: the action ids live in the session."""
    store = get_store()
    undo_key = f"target-excluded-{rep.train}-{rep.eval}"
    done = st.session_state.get(undo_key)
    c1, c2 = st.columns(2)
    copies = rep.copies()
    if c1.button(f"Exclude training copies ({len(copies)})", disabled=not copies, key="target-exclude",
                 help=f"tags them 'contaminates:{rep.eval}' and excludes them from {rep.train}; undoable"):
        st.session_state[undo_key] = tv.exclude_copies(store, rep.train, rep.eval, copies)
        st.rerun()
    if done and c2.button("Undo the exclusion", key="target-undo"):
        tv.undo_all(store, rep.train, done)
        del st.session_state[undo_key]
        st.rerun()
    if done:
        st.caption(f"Excluded {rep.train}'s copies (actions {', '.join(done)}; also undoable with `tag "
                   f"{rep.train} --undo ACTION`).")


def growth_form(rep: tv.TargetReport, opts: PageOptions) -> None:
    """Targeted growth: a pool run toward the eval set (launch.py), its job shown on the Synthesis page."""
    from core.synthesis.config import SynthesisConfig
    from core.synthesis.launch import launch

    store = get_store()
    pools = [d for d in store.dataset_names() if d not in (rep.train, rep.eval)]
    if not pools:
        st.info("Add a candidate pool (another dataset) on the Data page to grow toward this eval set.")
        return
    c1, c2, c3 = st.columns([2, 1, 1])
    pool = c1.selectbox("Candidate pool", pools, key="target-pool")
    per_round = c2.number_input("Accept per round", 1, 10_000, 20, key="target-accept")
    rounds = c3.number_input("Rounds", 1, 20, 1, key="target-rounds")
    if st.button(f"Grow {rep.train} toward {rep.eval}", type="primary", key="target-grow"):
        config = SynthesisConfig(source="pool", pool=pool, toward=rep.eval, accept_per_round=int(per_round),
                                 rounds=int(rounds), seed=opts.seed)
        try:
            launched = launch(store, get_runner(), rep.train, config, None, opts.feature_config())
        except ValueError as exc:
            st.error(str(exc))
            return
        st.session_state["target-growth"] = (launched.job_id, launched.run_id)
    if "target-growth" in st.session_state:
        job_id, run_id = st.session_state["target-growth"]
        job = get_runner().get(job_id)
        st.caption(f"Run {run_id} (job {job_id}): {job.status if job else 'unknown'}. Its arms and coverage before "
                   "and after are on the Synthesis page and in `synthesize ... --json` ('toward').")
