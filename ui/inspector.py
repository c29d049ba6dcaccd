"""The row inspector: one row opened in the sidebar (a clicked point, a table row, a neighbour): its full prompt and
response, tags, cluster, why it is sparse or suspect, and its 5 nearest rows in gradient space, each a button that
opens it here (core/analysis/row_detail.py, as `python -m core row NAME ID` prints it)."""
from __future__ import annotations

import streamlit as st

from ui.curatedata import escape_md
from ui.state import get_store


def _key(dataset: str) -> str:
    return f"inspect-{dataset}"


def inspected(dataset: str) -> str | None:
    return st.session_state.get(_key(dataset))


def inspect(dataset: str, sample_id: str | None) -> None:
    if sample_id is None:
        st.session_state.pop(_key(dataset), None)
    else:
        st.session_state[_key(dataset)] = sample_id


@st.cache_data(max_entries=64, show_spinner=False)
def _detail(dataset: str, sample_id: str, config_key: str, dim: int, map_key: str, marks: tuple, _gmap):
    """Keyed by the map and the row's marks, so a tag or an exclusion is seen at once."""
    from core.analysis.row_detail import row_detail

    return row_detail(get_store(), dataset, sample_id, config_key, dim, gmap=_gmap)


def inspector(dataset: str, opts, gmap, where=None) -> None:
    """The open row's panel, in `where` (a sidebar container; default: the sidebar's end); nothing when no row is
    open."""
    sample_id = inspected(dataset)
    if sample_id is None:
        return
    store, cfg = get_store(), opts.feature_config()
    marks = (tuple(store.tags(dataset).get(sample_id, [])), sample_id in set(store.excluded(dataset)))
    try:
        d = _detail(dataset, sample_id, cfg.key(), cfg.dim, gmap.key, marks, gmap)
    except KeyError:  # the row is gone (the dataset was replaced)
        inspect(dataset, None)
        return
    with where if where is not None else st.sidebar:
        st.divider()
        top, close = st.columns([5, 1], vertical_alignment="center")
        top.markdown(f"**{escape_md(d.name)}**")
        if close.button(":material/close:", key=f"inspect-close-{dataset}", help="close the inspector"):
            inspect(dataset, None)
            st.rerun()
        place = (f"cluster {d.cluster} · {d.cluster_size} rows · {'**sparse**' if d.sparse else 'dense'}"
                 if d.cluster is not None else "not on this map")
        st.caption(f"{place}" + (" · **excluded**" if d.excluded else "") +
                   (" · tags: " + ", ".join(escape_md(t) for t in d.tags) if d.tags else "") +
                   f" · id `{d.id}`")
        if d.suspect:
            st.warning("Suspect: " + "; ".join(d.quality_reasons or ["flagged by the quality read"]))
        st.markdown("**Prompt**")
        st.markdown(escape_md(d.prompt))
        st.markdown("**Response**")
        st.markdown(escape_md(d.response))
        if d.sparse_reasons:
            with st.expander("Why sparse or not", expanded=False):
                for line in d.sparse_reasons:
                    st.caption(line)
        if d.meta:
            st.caption(" · ".join(f"{escape_md(str(k))}: {escape_md(str(v))}" for k, v in d.meta.items()))
        st.markdown("**Nearest rows** (cosine in gradient space)")
        for n in d.neighbours:
            if st.button(f"{n.similarity:.2f} · {n.name}", key=f"inspect-near-{dataset}-{n.id}", width="stretch",
                         help=f"open it here (cluster {n.cluster})"):
                inspect(dataset, n.id)
                st.rerun()
        if not d.neighbours:
            st.caption("none: this row has no features under these settings")
        excluded = d.excluded
        if st.button("Include this row" if excluded else "Exclude this row", key=f"inspect-mark-{dataset}"):
            action = store.mark(dataset, [d.id], "include" if excluded else "exclude")
            st.session_state[f"last-action-{dataset}"] = (action.action_id, action.op, action.n)
            st.rerun()
