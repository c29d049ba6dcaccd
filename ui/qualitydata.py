"""What the app shows of the quality read (core/analysis/quality.py), built without drawing (no streamlit here, so it
is tested directly): the suspect rows with their reasons and text, the rows a user vouched for (tagged ok), the
map's per-row quality columns, whether the read had the model's losses, and G-Vendi with and without suspect rows."""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.quality import Quality, read_quality
from core.data.store import Store
from ui.curatedata import rows_text

# colour-by choice -> Quality.signals name; each a per-row number read against the dataset's own distribution
SIGNALS = {"loss": "loss", "IFD": "ifd", "overlap": "overlap", "compression": "compression", "symbols": "symbols",
           "length": "length"}
SIGNAL_HELP = ("loss: the proxy model's mean loss on the response given its prompt (nats per token) · IFD: that loss "
               "over the response's loss alone (1 or more: the prompt does not help) · overlap: share of the "
               "response's numbers and rare words found in its prompt · compression: raw / zlib bytes (repetition) · "
               "symbols: share of emoji and other symbols · length: characters")
SIGNAL_PREFIX = "quality: "  # the map frame's signal columns (never clash with a dataset's own columns)
SUSPECT_NOTE = (
    "A row is **suspect** when the quality read finds it unlike a good training row *of this dataset*: every signal "
    "(the proxy model's loss with and without the prompt, how much the response shares with its prompt, repetition, "
    "symbols, script, numbers) is read against the dataset's own rows. Suspect rows stay in the data but take no part "
    "in the sparse rules, selection or synthesis (junk is the most unlike thing there is, so every diversity score "
    "would reward it). Exclude them, or tag one **ok** when it is a good row: the read then treats it like any other.")
SNIPPET = 200
QUALITY_MAP_ROWS = 20_000  # maps up to this size get every row's reasons and signals (the read costs ~1 ms a row)


@dataclasses.dataclass(frozen=True)
class SuspectRow:
    id: str
    reasons: list[str]  # in words
    codes: list[str]
    prompt: str
    response: str


def _snippet(text: str, width: int = SNIPPET) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _rows(store: Store, dataset: str, q: Quality, mask: np.ndarray) -> list[SuspectRow]:
    """The rows of `mask`, most reasons first (dataset order among equals), with the start of their text."""
    order = sorted(np.flatnonzero(mask), key=lambda j: (-len(q.reasons[j]), j))
    text = rows_text(store, dataset, [q.ids[j] for j in order])
    return [SuspectRow(q.ids[j], [t for _, t in q.reasons[j]], [c for c, _ in q.reasons[j]],
                       _snippet(text[q.ids[j]][0]), _snippet(text[q.ids[j]][1])) for j in order]


def suspect_rows(store: Store, dataset: str, q: Quality) -> list[SuspectRow]:
    """Every suspect row of the read, sorted by the number of its reasons (most first)."""
    return _rows(store, dataset, q, q.suspect)


def overridden_rows(store: Store, dataset: str, q: Quality) -> list[SuspectRow]:
    """Rows the read flags that the user tagged ok: not suspect, listed with the reasons the tag overrides."""
    return _rows(store, dataset, q, q.flagged & q.ok)


def loss_note(store: Store, dataset: str, config_key: str | None, n: int, view: str = "kept") -> str | None:
    """What the read could not use: None when the model's losses cover every row of the view."""
    covered = store.loss_coverage(dataset, config_key, view) if config_key else 0
    if covered >= n:
        return None
    without = ("'hard to predict', 'degenerate' and 'unrelated' need the losses, so only a row whose text alone gives "
               "it away (symbols, another script, repetition, no number) can be suspect")
    if covered == 0:
        return ("The proxy model's losses of these rows are not computed yet (the analysis computes them: analyse "
                f"this dataset on the Gradient space page), so the read falls back to the text signals: {without}.")
    return (f"The proxy model's losses cover {covered:,} of the {n:,} rows (analyse again for the rest); the read "
            f"falls back to the text signals for the others: there, {without}.")


def map_quality(store: Store, dataset: str, config_key: str, ids: list[str], view: str = "kept") -> dict:
    """Per row of a map (in `ids` order): its reasons in words (an empty list when none) and every quality signal,
    as columns for the map's frame ({SIGNAL_PREFIX}name); NaN where a signal is unknown (no loss computed). Past
    QUALITY_MAP_ROWS rows only empty reasons: reading every row's text costs ~1 ms a row, and the map's own suspect
    flags (stored with it) still mark the rows."""
    reasons = np.empty(len(ids), dtype=object)  # a list per row (an object array: never read as a 2-D table)
    reasons[:] = [[] for _ in ids]
    if len(ids) > QUALITY_MAP_ROWS:
        return {"reasons": reasons}
    q = read_quality(store, dataset, config_key, view=view)
    pos = {i: j for j, i in enumerate(q.ids)}
    at = np.array([pos.get(i, -1) for i in ids], dtype=np.int64)
    found = at >= 0
    for r, j in enumerate(at):
        if j >= 0:
            reasons[r] = [t for _, t in q.reasons[j]]
    out = {"reasons": reasons}
    for name, signal in SIGNALS.items():
        col = np.full(len(ids), np.nan)
        col[found] = q.signals[signal][at[found]]
        out[SIGNAL_PREFIX + name] = col
    return out


def signal_choices(frame, taken: list[str]) -> list[str]:
    """The quality signals a map can be coloured by: those known for some row, named unlike the dataset's columns."""
    return [name for name in SIGNALS if name not in taken and SIGNAL_PREFIX + name in frame
            and np.isfinite(frame[SIGNAL_PREFIX + name].to_numpy(dtype=np.float64)).any()]


def clean_g_vendi(store: Store, dataset: str, config_key: str, dim: int, n_suspect: int, *, compute: bool = True,
                  view: str = "kept") -> float | None:
    """G-Vendi without the `n_suspect` suspect rows (the map's count): read from the score cache (the analysis
    computes it), else computed here with core.analysis.scoring.clean_score (it caches) when `compute`, else None.
    None too when no row is suspect (nothing to set aside) or every row is."""
    from core.analysis.quality import quality_state
    from core.analysis.scoring import clean_score

    if not n_suspect:
        return None
    found = store.get_score(dataset, config_key, f"g_vendi_clean:{quality_state(store, dataset, config_key, view)}",
                            view=view)
    if found:
        return found[0]
    return clean_score(store, dataset, config_key, dim, view=view)[0] if compute else None


def cached_clean_g_vendi(store: Store, dataset: str, config_key: str, n: int, view: str = "kept"
                         ) -> tuple[float | None, int | None]:
    """(G-Vendi without the suspect rows, how many) if already computed for the view's rows as they are (the analysis
    computes it), else (None, None): reads the score cache only, for lists of datasets. `n`: the rows G-Vendi covers
    (with no suspect row, the value is G-Vendi itself)."""
    from core.analysis.quality import quality_state

    found = store.get_score(dataset, config_key, f"g_vendi_clean:{quality_state(store, dataset, config_key, view)}",
                            view=view)
    return (found[0], max(0, n - found[1])) if found else (None, None)


def g_vendi_text(value: float, clean: float | None, n_suspect: int, *, pending: bool = False) -> str:
    """'G-Vendi 57.42 · 56.91 without 3 suspect rows' (or why there is no second number)."""
    if not n_suspect:
        return f"G-Vendi {value:.2f} · no suspect rows"
    rows = f"{n_suspect:,} suspect row{'s' if n_suspect != 1 else ''}"
    if clean is None:
        return (f"G-Vendi {value:.2f} · without {rows}: computed by the next analysis" if pending else
                f"G-Vendi {value:.2f} · every row is suspect ({rows}): no score without them")
    return f"G-Vendi {value:.2f} · {clean:.2f} without {rows}"
