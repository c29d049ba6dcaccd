"""Gradient space: G-Vendi beside baselines, the map coloured by cluster with sparse regions marked, drill-down."""
import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.analyse import cached_overview, find_map
from core.plots import map_figure
from core.analysis.summaries import cached_summaries, guess_label_columns
from ui import active_job_id, get_store, job_panel, options_form, pick_dataset, show_finished_job, start_analysis

store = get_store()
st.title("Gradient space")
dataset = pick_dataset()
opts = options_form()

job_id = active_job_id(dataset)
if job_id:
    st.query_params["job"] = job_id
    job_panel(job_id)
    st.stop()
show_finished_job(st.query_params.get("job"))

overview = cached_overview(store, dataset, opts)
gmap = find_map(store, dataset, opts, overview["config_key"]) if overview else None
if overview is None or gmap is None or "embedding_vendi" not in overview:
    n = store.dataset_info(dataset)["n"]
    st.info(f"**{dataset}** ({n} samples) has no analysis for these settings yet. It computes each sample's "
            f"gradient feature with the proxy model ({opts.mode} mode), then G-Vendi, baselines, clusters and the map. "
            "Computed features are cached: a re-run resumes.")
    if st.button("Analyse", type="primary"):
        start_analysis(dataset, opts)
        st.rerun()
    st.stop()

# ---- metrics row -------------------------------------------------------------------------------------------------
cols = st.columns(8)
metrics = [("G-Vendi", f"{overview['g_vendi']:.2f}", "Vendi score of unit gradient features (max = d)"),
           ("Embedding Vendi", f"{overview['embedding_vendi']:.2f}", "Vendi score of all-MiniLM-L6-v2 embeddings"),
           ("Distinct-1", f"{overview['distinct_1']:.3f}", "unique unigrams / all unigrams"),
           ("Distinct-2", f"{overview['distinct_2']:.3f}", "unique bigrams / all bigrams"),
           ("Compression", f"{overview['compression_ratio']:.2f}", "raw / gzip bytes (higher = more repetitive)"),
           ("Samples", f"{len(gmap.ids)}", None), ("Clusters k", f"{gmap.k}", None),
           ("Sparse clusters", f"{int(gmap.sparse_clusters.sum())}", f"rule: {gmap.rule}")]
for col, (label, value, help_text) in zip(cols, metrics):
    col.metric(label, value, help=help_text)

# ---- the map -------------------------------------------------------------------------------------------------------
frame = store.samples_frame(dataset).set_index("id").loc[gmap.ids].reset_index()
label_cols = guess_label_columns(frame)
color_by = st.radio("Colour by", ["cluster"] + label_cols, horizontal=True)
fig = map_figure(frame, gmap.labels, gmap.sparse_rows, gmap.xy, color_by=color_by)
st.caption(f"{len(gmap.ids)} points · open diamonds = sparse regions · lasso or box-select points to list them")
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key="map",
                        width="stretch")

table_cols = ["id", "cluster", "sparse", "prompt", "response"] + label_cols
frame["cluster"], frame["sparse"] = gmap.labels, gmap.sparse_rows
points = (event.selection.points if event and event.selection else []) or []
if points:
    rows = sorted({int(p["customdata"][0]) for p in points if p.get("customdata")})
    st.subheader(f"Selected: {len(rows)} samples")
    st.dataframe(frame.iloc[rows][table_cols], hide_index=True, width="stretch")

# ---- cluster drill-down --------------------------------------------------------------------------------------------
summaries = cached_summaries(store, gmap, frame, label_cols)
order = sorted(range(gmap.k), key=lambda c: (not summaries[c].sparse, summaries[c].size))
labels = {c: f"cluster {c} · {summaries[c].size} samples{' · sparse' if summaries[c].sparse else ''}" for c in order}
st.subheader("Clusters")
overview_table = pd.DataFrame([{"cluster": s.cluster, "size": s.size, "sparse": s.sparse,
                                "distinctive words": ", ".join(s.words[:6]),
                                **{f"{col} mix": ", ".join(f"{k}: {v}" for k, v in s.label_mix[col].items())
                                   for col in label_cols}} for s in (summaries[c] for c in order)])
st.dataframe(overview_table, hide_index=True, width="stretch")
chosen = st.selectbox("Drill into a cluster", order, format_func=labels.get, key="cluster-pick")
s = summaries[chosen]
st.markdown(f"**Cluster {s.cluster}** — {s.size} samples, {'sparse' if s.sparse else 'dense'}; "
            f"distinctive words: {', '.join(s.words) or '(none)'}")
members = frame[frame["cluster"] == chosen]
st.dataframe(members[table_cols], hide_index=True, width="stretch", key="cluster-rows")
st.caption(f"Showing {len(members)} rows of cluster {chosen}; sparse-region samples overall: "
           f"{int(np.sum(gmap.sparse_rows))} of {len(gmap.ids)}.")
