"""Gradient space, map first: the dataset and settings in the sidebar, the scores on one line, then four views of
which only the open one is drawn: the map (clusters named, sparse regions marked; selections act, a clicked row opens
in the inspector), G-Vendi's diversity curve against the demo's at equal n, the clusters with their contributions
and rows, and what each sparse rule finds here."""
import streamlit as st

from core.config import MIN_MAP_ROWS
from ui.frame import through_app
from ui import active_job_id, get_store, job_panel, show_finished_job
from ui.analysis import recluster_in_place, stop_after_failure
from ui.clusters import clusters_section, rules_section
from ui.insight import contributions, curve_section
from ui.inspector import inspector
from ui.mapdata import find_map_cached, map_data, summaries
from ui.mapview import map_section
from ui.start import not_analysed
from ui.state import rows_in_view
from ui.views import view_tabs
from ui.workbench import compact_metrics, refreshed_overview, remember_map, sidebar_settings

through_app()  # a deep link as the server's first visit: app.py runs first (ui/frame.py)

VIEWS = {"map": "Map", "curve": "Diversity curve", "clusters": "Clusters", "rules": "Sparse rules"}

store = get_store()
dataset, opts, inspector_slot = sidebar_settings()

job_id = active_job_id(dataset)
if job_id:
    st.query_params["job"] = job_id
    job_panel(job_id)
    st.stop()
show_finished_job(st.query_params.get("job"))

n = rows_in_view(dataset)  # the kept rows: an exclusion takes a row out of every score
overview = refreshed_overview(dataset, opts, n)  # re-analysed from cached features when the kept rows changed
coverage = store.feature_coverage(dataset, overview["config_key"], opts.dim) if overview else 0
if overview is None or coverage < n:
    st.subheader(f"Gradient space · {dataset}")
    not_analysed(dataset, opts, n)
    st.stop()
config_key = overview["config_key"]
gmap = find_map_cached(dataset, config_key, opts.dim, opts.cluster_config(), opts.seed)
if gmap is None and coverage < MIN_MAP_ROWS:
    st.warning(f"**{dataset}** has {coverage} rows with features: a map needs at least {MIN_MAP_ROWS}. Add rows "
               "(or include excluded ones) to see its clusters and map.")
    st.stop()
if gmap is None and stop_after_failure(dataset, opts):
    st.stop()  # the last analysis failed: its error and a Retry button, never a new job on a rerun
if gmap is None:  # only k, the rule or its threshold changed: cluster the cached features again
    if not recluster_in_place(dataset, opts, coverage, config_key):
        st.rerun()  # too big for the page: the analyse job does it (every feature is cached), its panel shows
    gmap = find_map_cached(dataset, config_key, opts.dim, opts.cluster_config(), opts.seed)

remember_map(dataset, gmap)  # an exclusion's refresh keeps the rows where this map drew them
data = map_data(gmap)
cluster_summaries = summaries(gmap.key, data)
compact_metrics(dataset, overview, gmap, opts.dim, opts.label())
view, container = view_tabs(VIEWS)
with container:
    if view == "map":
        map_section(dataset, data, cluster_summaries, opts)
    elif view == "curve":
        curve_section(dataset, config_key, opts.dim, len(gmap.ids), opts.label())
    elif view == "clusters":
        clusters_section(dataset, data, cluster_summaries, contributions(gmap, opts.dim))
    else:
        rules_section(data, opts.density_quantile, opts.mass_fraction)
inspector(dataset, opts, gmap, inspector_slot)
