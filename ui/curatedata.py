"""What the Curate page shows, built without drawing (no streamlit here, so it is tested directly): duplicate groups
with the differing words marked, tables of search hits and neighbours, the marks summary, the feature sets to pick."""
from __future__ import annotations

import dataclasses
import re

import pandas as pd

from core.analysis.dedup import word_diff
from core.data.store import Store

_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark: CommonMark escapes any of them
SNIPPET = 160


def escape_md(text: str) -> str:
    """`text` shown literally by st.markdown (no emphasis, links, LaTeX `$`, emoji `:x:`, HTML)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def marked_diff(reference: str, text: str) -> str:
    """Markdown of `text` with the words it does not share with `reference` in bold red (difflib on word tokens);
    everything else escaped. Whitespace collapses to single spaces."""
    out = []
    for word, tag in word_diff(reference, text):
        w = escape_md(word)
        out.append(f":red[**{w}**]" if tag else w)
    return " ".join(out)


def changed_words(reference: str, text: str) -> list[str]:
    """The words of `text` not in `reference` (by difflib), in order."""
    return [w for w, tag in word_diff(reference, text) if tag]


def exclusion_ids(groups: list[list[str]]) -> list[str]:
    """Every row of the groups but the kept one (each group's first)."""
    return [i for g in groups for i in g[1:]]


def curve_frame(curve: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame({"threshold": [float(t) for t in curve], "rows flagged": list(curve.values())})


def kept_reason(group: list[str], report: dict) -> str:
    return (f"keeps **{escape_md(group[0])}**: the row nearest the group's centre (the mean of its {len(group)} "
            f"gradients at cosine ≥ {report['threshold']:.2f}); the other {len(group) - 1} would be excluded")


def _snippet(text: str, start: int = 0, width: int = SNIPPET) -> str:
    text = " ".join(str(text).split())
    begin = max(0, start - width // 4) if start > 0 else 0
    part = text[begin:begin + width]
    return ("…" if begin else "") + part + ("…" if begin + width < len(text) else "")


def rows_text(store: Store, dataset: str, ids: list[str]) -> dict[str, tuple[str, str]]:
    """id -> (prompt, response) for the given rows (any view: an excluded row still has its text)."""
    return {i: (s.prompt, s.response) for i, s in store.rows_by_id(dataset, ids).items()}


def hits_frame(store: Store, dataset: str, hits) -> pd.DataFrame:
    """Search hits (core.analysis.search.Hit) as the row (its number in its name), id, where it matched, a snippet
    around the match, the tags."""
    text = rows_text(store, dataset, [h.id for h in hits])
    tags, lines = store.tags(dataset), store.source_lines(dataset, [h.id for h in hits])
    return pd.DataFrame({
        "row": [lines.get(h.id) for h in hits], "id": [h.id for h in hits], "field": [h.field for h in hits],
        "match": [_snippet(text[h.id][0 if h.field == "prompt" else 1], h.start) for h in hits],
        "tags": [", ".join(tags.get(h.id, [])) for h in hits]}, columns=["row", "id", "field", "match", "tags"])


def neighbours_frame(store: Store, dataset: str, near: list[tuple[str, float]]) -> pd.DataFrame:
    text = rows_text(store, dataset, [i for i, _ in near])
    lines = store.source_lines(dataset, [i for i, _ in near])
    return pd.DataFrame({"row": [lines.get(i) for i, _ in near], "id": [i for i, _ in near],
                         "similarity": [f"{s:.2f}" for _, s in near],
                         "prompt": [_snippet(text[i][0]) for i, _ in near]},
                        columns=["row", "id", "similarity", "prompt"])


def marks_frame(store: Store, dataset: str) -> pd.DataFrame:
    """One line per tag with its row count, and the excluded rows."""
    lines = [("tag", t, n) for t, n in store.tag_counts(dataset).items()]
    excluded = len(store.excluded(dataset))
    if excluded:
        lines.append(("excluded", "", excluded))
    return pd.DataFrame(lines, columns=["mark", "tag", "rows"])


def last_undoable(store: Store, dataset: str):
    """The latest action not undone (an undo marks both itself and what it reversed as undone), else None."""
    return next((a for a in store.actions(dataset) if not a.undone), None)


def action_text(action) -> str:
    what = {"tag": f"tagged '{action.value}'", "untag": f"untagged '{action.value}'", "exclude": "excluded",
            "include": "included again"}[action.op]
    return f"{action.n} row{'s' if action.n != 1 else ''} {what}"


@dataclasses.dataclass(frozen=True)
class FeatureSet:
    label: str
    config_key: str
    dim: int


def feature_sets(store: Store, dataset: str, default_key: str, dim: int, default_label: str) -> list[FeatureSet]:
    """The analysis' gradient features first, then the vectors imported for this dataset."""
    from core.features.imported import imported_sets

    out = [FeatureSet(f"gradients ({default_label})", default_key, dim)]
    out += [FeatureSet(f"imported: {name} ({f.dim} dims)", f.key(), f.dim)
            for name, f in sorted(imported_sets(store, dataset).items())]
    return out

