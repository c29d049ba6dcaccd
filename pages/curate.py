"""Curate: act on what the map shows. Near-duplicates in gradient space (with what excluding them does to G-Vendi),
suspect rows (the quality read: junk with its reasons, excluded or vouched for in one click), text search, more like
this, tags and exclusions with undo, and vectors imported from elsewhere. Exclusions take rows out of the dataset's
default view: every score, map and export then describes the kept rows."""
import streamlit as st

from ui.frame import through_app
from ui import get_store, options, pick_dataset
from ui.curate import (duplicates_section, flash, import_section, marks_section, search_section, similar_section)
from ui.curatedata import feature_sets
from ui.quality import suspects_section
from ui.state import rows_in_view
from ui.views import kept_choice

through_app()  # a deep link as the server's first visit: app.py runs first (ui/frame.py)

store = get_store()
st.title("Curate")
dataset = pick_dataset()
opts = options()
flash()

c1, c2 = st.columns([3, 1])
sets = feature_sets(store, dataset, opts.feature_config().key(), opts.dim, opts.label())
labels = [s.label for s in sets]
picked = c1.selectbox("Features", labels, key=f"curate-features-{dataset}",
                      help="the analysis' gradient features (mode and model as on the Gradient space page), or a set "
                           "of vectors imported below")
fs = sets[labels.index(picked)]
show_all = c2.toggle("Show excluded rows too", key=f"curate-all-{dataset}",
                     help="off: the kept rows (what every score describes); on: every row, excluded ones included")
view = "all" if show_all else "kept"
n = rows_in_view(dataset, view)
coverage = store.feature_coverage(dataset, fs.config_key, fs.dim, view)

SECTIONS = {"duplicates": "Duplicates", "suspects": "Suspect rows", "search": "Search", "similar": "More like this",
            "marks": "Tags & exclusions", "import": "Import vectors"}
section = kept_choice("Section", SECTIONS, key="tab")  # kept across actions, and in the URL (?tab=search)
no_features = (f"**{dataset}** has no features under {fs.label} yet: analyse it on the Gradient space page first "
               "(duplicates and more like this compare the rows' features).")
if section in ("duplicates", "similar") and coverage == 0:
    st.info(no_features)
elif section == "duplicates":
    if coverage < n:
        st.caption(f"Features cover {coverage:,} of the {n:,} rows: only those are compared.")
    duplicates_section(dataset, fs, view, opts)
elif section == "suspects":  # read with the analysis' features (whose pass gave the losses), whichever set is picked
    suspects_section(dataset, sets[0].config_key)
elif section == "search":
    search_section(dataset, view, opts)
elif section == "similar":
    similar_section(dataset, fs, view, opts)
elif section == "marks":
    marks_section(dataset, opts)
else:
    import_section(dataset)
