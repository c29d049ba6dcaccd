"""Streamlit glue shared by the pages (never imported by core/)."""
from ui.analysis import PageOptions, active_job_id, options, options_form, start_analysis
from ui.jobs import job_panel, show_finished_job
from ui.state import current_dataset, get_runner, get_store, pick_dataset, select_dataset, warm_up_umap_in_background
from ui.synthesis import arms_figure, generator_settings, source_settings, start_synthesis, synthesis_map

__all__ = ["PageOptions", "active_job_id", "arms_figure", "current_dataset", "generator_settings", "get_runner",
           "get_store", "job_panel", "options", "options_form", "pick_dataset", "select_dataset",
           "show_finished_job", "source_settings", "start_analysis", "start_synthesis", "synthesis_map",
           "warm_up_umap_in_background"]
