"""Home: the workspace's datasets (every score with its mode and model), upload with a preview that shows malformed
lines, column mapping and a downloadable validation report, and the demo, opened already analysed."""
import pandas as pd
import streamlit as st

from core.data.datasets import dataset_name_for, ingest, save_upload
from core.data.ingest import IngestError
from core.data.preview import peek_columns
from ui.frame import through_app
from ui import get_store, options, select_dataset, start_analysis
from ui.data import (AUTO, clear_report, datasets_table, default_columns, demo_note, friendly, load_demo_now,
                     malformed_lines, manage_dataset, rows_csv)
from ui.tables import no_none

through_app()  # a deep link as the server's first visit: app.py runs first (ui/frame.py)

store = get_store()
st.title("Prism Studio")
st.caption("Measure how diverse your training data is *as the model sees it* (G-Vendi), find the thin regions, "
           "and grow them.")


def open_in_map(name: str) -> None:
    select_dataset(name)
    job = {"job": st.query_params["job"]} if "job" in st.query_params else {}
    st.switch_page("pages/gradient-space.py", query_params={"dataset": name, **job, **options().url()})


# ---- datasets in the workspace -------------------------------------------------------------------------------
st.subheader("Datasets")
names = store.dataset_names()
if names:
    st.dataframe(no_none(datasets_table(options())), hide_index=True, width="stretch")
    c1, c2 = st.columns([3, 1])
    pick = c1.selectbox("Open a dataset", names, index=len(names) - 1, label_visibility="collapsed")
    if c2.button("Open in Gradient space", type="primary"):
        open_in_map(pick)
    manage_dataset(pick)
else:
    st.info("No datasets yet: upload one below, or load the demo.")

if st.button("Load the demo: 300 math word problems (270 GSM8K + 30 SVAMP)"):
    open_in_map(load_demo_now(options())["dataset"])
st.caption(demo_note(options()))  # what its map flags per source, computed (ui/data.py)

# ---- upload ---------------------------------------------------------------------------------------------------
st.subheader("Upload")
upload = st.file_uploader("JSONL, JSON, CSV, TSV or Parquet (text files may be .gz)", on_change=clear_report,
                          type=["jsonl", "ndjson", "json", "csv", "tsv", "parquet", "gz"])
if upload is not None and st.session_state.get("last_report", (None,))[0] != upload.file_id:
    path = save_upload(upload.name, upload.getvalue())
    try:
        preview = peek_columns(path, display_name=upload.name)
    except IngestError as exc:
        st.error(friendly(str(exc), path, upload.name))
        st.stop()
    st.caption(f"Preview of {upload.name} (first good rows)")
    st.dataframe(no_none(pd.DataFrame(preview.rows)), hide_index=True, width="stretch")
    bad, scanned = malformed_lines(path, upload.name)
    if bad:
        st.warning(f"{len(bad)}{'+' if len(bad) >= 20 else ''} malformed line(s) in the first {scanned:,} records: "
                   "they will be skipped and listed in the report.")
        st.dataframe(no_none(pd.DataFrame(bad)), hide_index=True, width="stretch")
    choices, p_idx, r_idx = default_columns(preview.columns, preview.shape)
    with st.form("ingest"):
        st.write(f"Detected shape: **{preview.shape or 'none'}**" +
                 ("" if preview.shape else " — pick the prompt and response columns below."))
        c1, c2, c3 = st.columns(3)
        prompt_col = c1.selectbox("Prompt column", choices, index=p_idx)
        response_col = c2.selectbox("Response column", choices, index=r_idx)
        name = c3.text_input("Dataset name", value=dataset_name_for(upload.name))
        submitted = st.form_submit_button("Ingest and analyse", type="primary")
    if submitted:
        mapping = None
        if prompt_col != AUTO or response_col != AUTO:
            if AUTO in (prompt_col, response_col) or prompt_col == response_col:
                st.error("Pick two different columns for the prompt and the response, or leave both on auto-detect.")
                st.stop()
            mapping = {"prompt": prompt_col, "response": response_col}
        bar = st.progress(0.0, text="Reading the file")
        try:
            name, summary = ingest(store, path, name=name.strip() or dataset_name_for(upload.name), mapping=mapping,
                                   display_name=upload.name,
                                   progress=lambda rows, done, total: bar.progress(
                                       min(1.0, done / max(total, 1)), text=f"{rows:,} rows read"))
        except (IngestError, ValueError) as exc:
            st.error(friendly(str(exc), path, upload.name))
            st.stop()
        finally:
            bar.empty()
        if not summary.get("warnings"):  # too small: an analysis could only fail (the report says why)
            start_analysis(name, options())
        select_dataset(name)
        st.session_state["last_report"] = (upload.file_id, upload.name, name, summary)
        st.rerun()  # the datasets table above now lists it

report = st.session_state.get("last_report")
if report and upload is not None and report[0] == upload.file_id:
    _, file_name, name, summary = report
    st.success(f"**{name}** (from {file_name}): {summary['n']} samples kept ({summary['shape']}), "
               f"{summary['rejected_rows']} rows rejected, {summary['duplicates']} duplicates skipped."
               + ("" if summary.get("warnings") else " Analysis started."))
    for warning in summary.get("warnings", []):
        st.warning(f"**{name}** is {warning}. Add rows to analyse it.")
    if summary["bad_rows"]:
        st.dataframe(no_none(pd.DataFrame(summary["bad_rows"])), hide_index=True, width="stretch")
        listed = len(summary["bad_rows"])
        st.download_button(f"Download the rejected rows (CSV{'' if listed == summary['rejected_rows'] else f', first {listed}'})",
                           rows_csv(summary["bad_rows"]), file_name=f"{name}-rejected-rows.csv", mime="text/csv",
                           on_click="ignore")
    if st.button("Open in Gradient space", key="open-uploaded", type="primary"):
        open_in_map(name)
