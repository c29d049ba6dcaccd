"""Home: the workspace's datasets, upload with column mapping and a validation report, and a one-click demo."""
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.ingest import IngestError
from core.data.datasets import dataset_name_for, ingest, save_upload
from core.data.preview import peek_columns
from ui import get_runner, get_store, options, select_dataset, start_analysis

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo" / "gsm8k_svamp_demo.jsonl"
AUTO = "(auto-detect)"

store = get_store()
st.title("Prism Studio")
st.caption("Measure how diverse your training data is *as the model sees it* (G-Vendi), find the thin regions, "
           "and grow them.")


def open_in_map(name: str) -> None:
    select_dataset(name)
    st.switch_page("pages/gradient_space.py", query_params={"dataset": name, **(
        {"job": st.query_params["job"]} if "job" in st.query_params else {})})


# ---- datasets in the workspace -------------------------------------------------------------------------------
names = store.dataset_names()
st.subheader("Datasets")
if names:
    rows = []
    for name in names:
        info = store.dataset_info(name)
        g = [s for s in store.scores_for(name) if s["metric"] == "g_vendi" and s["q"] == 1.0]
        job = get_runner().find_active("analyse", name)
        rows.append({"dataset": name, "samples": info["n"], "rejected rows": info["rejected_rows"],
                     "G-Vendi": round(g[0]["value"], 3) if g else None,
                     "status": f"running ({job.stage})" if job else ("analysed" if g else "not analysed")})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    c1, c2 = st.columns([3, 1])
    pick = c1.selectbox("Open a dataset", names, index=len(names) - 1, label_visibility="collapsed")
    if c2.button("Open in Gradient space", type="primary"):
        open_in_map(pick)
else:
    st.info("No datasets yet: upload one below, or load the demo.")

if st.button("Load the demo (270 GSM8K + 30 SVAMP problems; SVAMP is the thin region)"):
    name, _ = ingest(store, DEMO, name="demo")
    start_analysis(name, options())
    open_in_map(name)
st.caption("Demo data: samples of GSM8K and SVAMP, both MIT-licensed (see data/ATTRIBUTION.md).")

# ---- upload ---------------------------------------------------------------------------------------------------
st.subheader("Upload")
upload = st.file_uploader("JSONL, JSON, CSV, TSV or Parquet (text files may be .gz)",
                          type=["jsonl", "ndjson", "json", "csv", "tsv", "parquet", "gz"])
if upload is not None:
    path = save_upload(upload.name, upload.getvalue())
    try:
        preview = peek_columns(path, display_name=upload.name)
    except IngestError as exc:
        st.error(str(exc))
        st.stop()
    columns, detected = preview.columns, preview.shape
    st.caption(f"Preview of {upload.name} (first rows)" + (f" · {preview.note}" if preview.note else ""))
    st.dataframe(pd.DataFrame(preview.rows), hide_index=True, width="stretch")
    with st.form("ingest"):
        st.write(f"Detected shape: **{detected or 'none'}**" + ("" if detected else " — map the columns below."))
        c1, c2, c3 = st.columns(3)
        prompt_col = c1.selectbox("Prompt column", [AUTO] + columns)
        response_col = c2.selectbox("Response column", [AUTO] + columns)
        name = c3.text_input("Dataset name", value=dataset_name_for(upload.name))
        submitted = st.form_submit_button("Ingest and analyse", type="primary")
    if submitted:
        mapping = None
        if prompt_col != AUTO or response_col != AUTO:
            if AUTO in (prompt_col, response_col):
                st.error("Pick both a prompt and a response column, or leave both on auto-detect.")
                st.stop()
            mapping = {"prompt": prompt_col, "response": response_col}
        bar = st.progress(0.0, text="Reading the file")
        try:
            name, summary = ingest(store, path, name=name.strip() or dataset_name_for(upload.name), mapping=mapping,
                                   display_name=upload.name,
                                   progress=lambda rows, done, total: bar.progress(
                                       min(1.0, done / max(total, 1)), text=f"{rows:,} rows read"))
        except (IngestError, ValueError) as exc:
            st.error(str(exc))
            st.stop()
        finally:
            bar.empty()
        st.session_state["last_report"] = (name, summary)
        start_analysis(name, options())
        select_dataset(name)

report = st.session_state.get("last_report")
if report:
    name, summary = report
    st.success(f"**{name}**: {summary['n']} samples kept ({summary['shape']}), {summary['rejected_rows']} rows "
               f"rejected, {summary['duplicates']} duplicates skipped. Analysis started.")
    if summary["bad_rows"]:
        st.dataframe(pd.DataFrame(summary["bad_rows"]), hide_index=True, width="stretch")
    if st.button("Open in Gradient space", key="open-uploaded", type="primary"):
        open_in_map(name)
