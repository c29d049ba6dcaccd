"""The process-wide store and job runner, and which dataset the page is on (kept in the URL)."""
from __future__ import annotations

import threading

import streamlit as st

from core.data.store import Store
from core.jobs import JobRunner


@st.cache_resource
def get_store() -> Store:
    """One DuckDB connection for the server process (DuckDB allows one writer); threads use cursors."""
    return Store()


@st.cache_resource
def get_runner() -> JobRunner:
    return JobRunner(get_store())


@st.cache_resource
def warm_up_umap_in_background() -> threading.Thread:
    """umap's first fit JIT-compiles for ~20 s (longer on a busy machine), holding the GIL much of that time: done
    once per process, off the page's thread, when an analysis starts (it compiles while the features are computed),
    never at server start, where it slowed every page shown in the first minute."""
    from core.analysis.gradient_map import warm_up_umap

    thread = threading.Thread(target=warm_up_umap, name="umap-warm-up", daemon=True)
    thread.start()
    return thread


def current_dataset(names: list[str]) -> str | None:
    """The dataset in the URL (survives a refresh), else the last one picked in this session."""
    wanted = st.query_params.get("dataset") or st.session_state.get("dataset")
    return wanted if wanted in names else (names[-1] if names else None)


def pick_dataset(label: str = "Dataset") -> str:
    """A dataset selectbox that remembers the choice in the URL; stops the page when the workspace is empty."""
    names = get_store().dataset_names()
    if not names:
        st.info("No datasets yet: add one on the Data page.")
        st.stop()
    picked = st.selectbox(label, names, index=names.index(current_dataset(names)))
    if st.query_params.get("dataset") != picked:
        select_dataset(picked)
    return picked


def select_dataset(name: str) -> None:
    st.session_state["dataset"] = name
    st.query_params["dataset"] = name


def rows_in_view(dataset: str, view: str = "kept") -> int:
    """How many rows the view holds: what features must cover for an analysis of it to be complete (after an
    exclusion the kept rows are fewer than the dataset's n)."""
    return get_store().count_rows(dataset, view)
