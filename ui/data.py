"""Data page helpers: the datasets table (every score with its mode and model), the demo in one click, the upload
preview with its malformed lines, sensible column pickers, and the bad-rows report as CSV."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import streamlit as st

from core.analysis.analyse import AnalysisOptions
from ui.analysis import short_model, start_analysis
from ui.qualitydata import cached_clean_g_vendi
from ui.state import get_runner, get_store, select_dataset

AUTO = "(auto-detect)"
PROMPT_NAMES = ("prompt", "question", "instruction", "input", "problem", "query", "q", "text", "source")
RESPONSE_NAMES = ("response", "answer", "output", "completion", "solution", "target", "a", "reply", "label")


def g_vendi_entry(dataset: str, opts: AnalysisOptions) -> dict | None:
    """The G-Vendi to show: under the current options if there is one, else the newest, with its identity."""
    scores = [s for s in get_store().scores_for(dataset) if s["metric"] == "g_vendi" and s["q"] == 1.0]
    if not scores:
        return None
    current = opts.feature_config().key()
    return next((s for s in scores if s["config_key"] == current), scores[0])


def datasets_table(opts: AnalysisOptions) -> pd.DataFrame:
    """One row per dataset; G-Vendi beside G-Vendi without the quality read's suspect rows (when the analysis has
    computed it for the rows as they are: only the score cache is read here)."""
    store, runner = get_store(), get_runner()
    current = opts.feature_config().key()
    rows = []
    for name in store.dataset_names():
        info = store.dataset_info(name)
        g = g_vendi_entry(name, opts)
        ident = (g or {}).get("identity") or {}
        job = runner.find_active("analyse", name)
        status = (f"running ({job.stage})" if job else "analysed" if g and g["config_key"] == current
                  else "analysed with other options" if g else "not analysed")
        clean, n_suspect = cached_clean_g_vendi(store, name, g["config_key"], g["n"]) if g else (None, None)
        rows.append({"dataset": name, "samples": info["n"], "rejected rows": info["rejected_rows"],
                     "G-Vendi": round(g["value"], 2) if g else None, "at n": g["n"] if g else None,
                     "without suspect": round(clean, 2) if clean is not None else None,
                     "suspect rows": n_suspect,
                     "mode": ident.get("mode"), "model": short_model(ident["model"]) if ident.get("model") else None,
                     "status": status})
    return pd.DataFrame(rows)


def load_demo_now(opts: AnalysisOptions) -> dict:
    """Ingest the demo and, when its shipped features fit the options, analyse it here in seconds (no job);
    otherwise start the analysis job as for any dataset."""
    from core.analysis.demo import load_demo

    with st.spinner("Loading the demo…"):
        result = load_demo(get_store(), opts)
    if not result["analysed"]:
        start_analysis(result["dataset"], opts)
    return result


def malformed_lines(path: Path, display_name: str, *, scan: int = 1_000, keep: int = 20) -> tuple[list[dict], int]:
    """Malformed records among the first `scan` of the file, read as ingest reads it: ([{line, problem}], scanned)."""
    from core.data.readers import BadRecord, FileReader, IngestError

    found, scanned = [], 0
    try:
        with FileReader(path, name=display_name) as reader:
            for scanned, (line, row) in enumerate(reader.records(), start=1):
                if isinstance(row, (BadRecord, Exception)) and len(found) < keep:
                    found.append({"line": line, "problem": getattr(row, "reason", str(row))})
                if scanned >= scan:
                    break
    except IngestError:
        pass  # the preview reports a file that cannot be read at all
    return found, scanned


def default_columns(columns: list[str], detected: str | None) -> tuple[list[str], int, int]:
    """(picker options, prompt index, response index). With a detected shape the pickers start on auto-detect;
    without one auto-detect cannot work, so it is not offered and the pickers start on the likeliest columns."""
    if detected:
        return [AUTO, *columns], 0, 0
    lower = [c.lower() for c in columns]

    def best(names, avoid=-1):
        for name in names:
            if name in lower and lower.index(name) != avoid:
                return lower.index(name)
        return next((i for i in range(len(columns)) if i != avoid), 0)

    p = best(PROMPT_NAMES)
    return list(columns), p, best(RESPONSE_NAMES, avoid=p)


def rows_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def clear_report() -> None:
    """A new file in the uploader: the previous file's success message does not belong under it."""
    st.session_state.pop("last_report", None)


def friendly(message: str, path: Path, shown: str) -> str:
    """Error text naming the file as the user knows it, never the workspace's stored copy."""
    return message.replace(str(path), shown).replace(path.name, shown)


def manage_dataset(name: str) -> None:
    """Rename, and delete behind a confirmation: the first button only asks; nothing is lost until 'Yes, delete'."""
    store = get_store()
    with st.expander(f"Rename or delete {name}", expanded=st.session_state.get("confirm-delete") == name):
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        new = c1.text_input("New name", value=name, key=f"rename-{name}").strip()
        if c2.button("Rename", key=f"rename-button-{name}", disabled=new in ("", name)):
            try:
                store.rename_dataset(name, new)
            except (ValueError, LookupError) as exc:
                st.error(str(exc))
            else:
                select_dataset(new)
                st.rerun()
        if st.session_state.get("confirm-delete") != name:
            if st.button(f"Delete {name}…", key=f"delete-{name}"):
                st.session_state["confirm-delete"] = name
                st.rerun()
            return
        gone = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in store.dataset_footprint(name).items() if v)
        st.warning(f"Delete **{name}** for good? This removes {gone or 'its record'}. Computed features stay "
                   "(they are keyed by content): uploading the same rows again analyses them in seconds.")
        a, b = st.columns(2)
        if a.button(f"Yes, delete {name}", type="primary", key=f"delete-confirm-{name}"):
            try:
                store.delete_dataset(name)
            except (ValueError, LookupError) as exc:
                st.error(str(exc))
                return
            st.session_state.pop("confirm-delete", None)
            if st.session_state.get("dataset") == name:
                st.session_state.pop("dataset", None)
            if st.query_params.get("dataset") == name:
                del st.query_params["dataset"]
            st.rerun()
        if b.button("Cancel", key=f"delete-cancel-{name}"):
            st.session_state.pop("confirm-delete", None)
            st.rerun()


DEMO_DATA = "Data: samples of GSM8K and SVAMP, both MIT-licensed (see data/ATTRIBUTION.md)."
DEMO_INTRO = ("The demo opens already analysed: 270 GSM8K and 30 SVAMP math word problems, SVAMP's a minority by "
              "count. Once it is loaded, this note says how many rows of each its map flags as sparse. " + DEMO_DATA)


def demo_note(opts: AnalysisOptions) -> str:
    """What the demo's map flags per source, in words (core/analysis/demo_story.py), once the demo has a map under
    the page's options; before that, what it holds and no claim about what any rule flags."""
    from core.analysis.demo import DEMO_NAME
    from ui.mapdata import find_map_cached

    store = get_store()
    if not store.has_dataset(DEMO_NAME):
        return DEMO_INTRO
    config = opts.feature_config()
    gmap = find_map_cached(DEMO_NAME, config.key(), config.dim, opts.cluster_config(), opts.seed)
    if gmap is None:
        return DEMO_INTRO
    return _story_text(gmap.key, opts.density_quantile, opts.mass_fraction, gmap) + " " + DEMO_DATA


@st.cache_data(max_entries=8, show_spinner=False)
def _story_text(map_key: str, density_quantile: float, mass_fraction: float, _gmap) -> str:
    """The story of the demo's map (keyed by it: the demo's rows and their sources are its content), so the Data
    page's every run does not read the demo's rows again."""
    from core.analysis.demo import DEMO_NAME
    from core.analysis.demo_story import story, story_text

    sources = {s.id: str(s.meta.get("source", "")) for s in get_store().samples(DEMO_NAME, "all")}
    return story_text(story(_gmap, sources, density_quantile=density_quantile, mass_fraction=mass_fraction))
