"""A per-row quality read, so that diversity never rewards junk.

Why: a row unlike every other row raises any Vendi score, and random text is the most unlike thing there is: left
alone, the sparse rules, `select` and the synthesis loop all grow around junk first. So every rule asks this module
which rows are *suspect* and leaves them out (they keep their own colour on the map), unless the user tags a row `ok`.

Signals of each row (the model's from the feature pass and one extra forward pass, core/features/response_loss.py;
the text's from the text alone):
- loss: the response's mean token loss given its prompt (nats per token); loss_alone: given no prompt;
- ifd: loss / loss_alone, the instruction-following difficulty: 1 or more means the prompt does not help at all;
- overlap: the share of the response's numbers and rare words (4+ letters, not among the dataset's 50 commonest
  response words) that also occur in its prompt;
- compression: raw / zlib-compressed bytes of the response (repetition); symbols: the share of its non-space
  characters that are neither letters, digits nor ASCII punctuation (emoji, pictographs); script: the writing system
  of most of its letters; has_number; length.

Each signal is read against the dataset's own distribution (robust z-scores: median and 1.4826 x MAD in log space;
shares and quantiles of the dataset), never against a constant tuned on one dataset. The few fixed numbers are
definitions ("the prompt does not help": IFD >= 1; "most of it is symbols": > 50%), not fits. A row is suspect when
any rule fires; each rule says why in words. Rules (QualityConfig):
- unrelated: IFD >= 1, or it shares no number and no rare word with its prompt while the prompt helps less than it
  does for the median row;
- hard to predict: log loss more than z robust deviations above the median (random letters, base64);
- degenerate: log loss more than z below it (a list of numbers, a word repeated);
- repetitive: log compression more than repetition_z above the median;
- symbols: mostly symbols, where the dataset's median row has almost none;
- script: most letters in a script that fewer than 5% of the dataset's rows use;
- no number: a response without a number where nearly every response (80%+) has one.
bench/quality.py measures recall per kind of junk and false positives per source, and that rare but good rows
(long minerva_math solutions among GSM8K) keep their sparse enrichment.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import re
import unicodedata
import zlib

import numpy as np

QUALITY_VERSION = 1  # part of every cache key of results that honour the quality read
OK_TAG = "ok"  # a user's override: a row tagged ok is never suspect (its reasons are still shown)
TOKENS = re.compile(r"[^\W\d_]{4,}|\d+(?:\.\d+)?")
DIGIT = re.compile(r"\d")
COMMON_WORDS = 50


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    z: float = 3.5  # robust deviations of log loss beyond which a row is hard to predict / degenerate
    repetition_z: float = 4.0  # robust deviations of log compression beyond which a row repeats itself
    symbol_share: float = 0.5  # "most of the response is symbols"
    rare_script: float = 0.05  # a script used by fewer than this share of the dataset's rows
    number_share: float = 0.8  # "nearly every response holds a number"


@dataclasses.dataclass(frozen=True)
class RowSignals:
    length: int
    compression: float
    symbols: float
    has_number: bool
    script: str | None
    words: frozenset  # the response's numbers and 4+-letter words
    prompt_words: frozenset


@functools.lru_cache(maxsize=4096)
def _script_of(char: str) -> str:
    if ord(char) < 128:
        return "LATIN"
    name = unicodedata.name(char, "")
    return name.split(" ")[0] if name else "UNKNOWN"


def _words(text: str) -> frozenset:
    out = set()
    for m in TOKENS.findall(text.lower()):
        if m[0].isdigit():
            try:
                m = f"{float(m):g}"
            except ValueError:
                pass
        out.add(m)
    return frozenset(out)


def text_signals(prompt: str, response: str) -> RowSignals:
    raw = response.encode("utf-8")
    compression = len(raw) / len(zlib.compress(raw, 6)) if raw else 1.0
    if response.isascii():  # the common case, without a pass per character
        script = "LATIN" if re.search(r"[A-Za-z]", response) else None
        symbols = 0.0
    else:
        scripts = collections.Counter(_script_of(c) for c in response if c.isalpha())
        script = scripts.most_common(1)[0][0] if scripts else None
        visible = [c for c in response if not c.isspace()]
        symbols = sum(1 for c in visible if not (c.isalnum() or ord(c) < 128)) / max(1, len(visible))
    return RowSignals(len(response), compression, symbols, bool(DIGIT.search(response)), script, _words(response),
                      _words(prompt))


def _script_name(script: str) -> str:
    return script if len(script) <= 3 else script.title()  # CJK, Latin, Cyrillic


def _robust(values: np.ndarray, floor: float = 0.05) -> tuple[float, float]:
    """(median, 1.4826 x MAD), the scale floored so that a dataset of near-identical rows flags nothing by accident."""
    values = values[np.isfinite(values)]
    if not len(values):
        return 0.0, 1.0
    med = float(np.median(values))
    return med, max(1.4826 * float(np.median(np.abs(values - med))), floor)


@dataclasses.dataclass(frozen=True)
class Reference:
    """The dataset's own distribution of every signal: what a row is read against."""

    n: int
    log_loss: tuple[float, float] | None  # (median, scale); None without model losses
    ifd_median: float | None
    log_compression: tuple[float, float]
    symbols_median: float
    script_share: dict
    majority_script: str | None
    number_share: float
    common: frozenset

    def to_json(self) -> dict:
        return {"n": self.n, "loss_median": None if self.log_loss is None else float(np.exp(self.log_loss[0])),
                "ifd_median": self.ifd_median, "compression_median": float(np.exp(self.log_compression[0])),
                "symbols_median": self.symbols_median, "majority_script": self.majority_script,
                "number_share": self.number_share}


def overlap(sig: RowSignals, common: frozenset) -> float:
    rare = sig.words - common
    return len(rare & sig.prompt_words) / len(rare) if rare else 0.0


def reference(signals: list[RowSignals], loss: np.ndarray | None, ifd: np.ndarray | None,
              config: QualityConfig = QualityConfig()) -> Reference:
    n = len(signals)
    df = collections.Counter(w for s in signals for w in s.words if not w[0].isdigit())
    common = frozenset(w for w, _ in df.most_common(COMMON_WORDS))
    scripts = collections.Counter(s.script for s in signals if s.script)
    has_loss = loss is not None and np.isfinite(loss).any()
    return Reference(
        n=n, log_loss=_robust(np.log(np.maximum(loss, 1e-6))) if has_loss else None,
        ifd_median=float(np.nanmedian(ifd)) if has_loss and ifd is not None else None,
        log_compression=_robust(np.log([s.compression for s in signals])) if n else (0.0, 1.0),
        symbols_median=float(np.median([s.symbols for s in signals])) if n else 0.0,
        script_share={k: v / sum(scripts.values()) for k, v in scripts.items()}, majority_script=scripts.most_common(1)[0][0]
        if scripts else None, number_share=float(np.mean([s.has_number for s in signals])) if n else 0.0,
        common=common)


def flags(sig: RowSignals, loss: float | None, ifd: float | None, ref: Reference,
          config: QualityConfig = QualityConfig()) -> list[tuple[str, str]]:
    """(code, reason in words) of every rule the row trips, read against the reference; the most specific first."""
    out = []
    ov = overlap(sig, ref.common)
    if sig.symbols > config.symbol_share and ref.symbols_median < 0.1:
        out.append(("symbols", f"{sig.symbols:.0%} of the response is symbols or emoji (this dataset's median "
                               f"{ref.symbols_median:.0%})"))
    if (sig.script and ref.majority_script and sig.script != ref.majority_script
            and ref.script_share.get(sig.script, 0.0) < config.rare_script):
        out.append(("script", f"written in {_script_name(sig.script)} script, while "
                              f"{ref.script_share[ref.majority_script]:.0%} of this dataset's text is "
                              f"{_script_name(ref.majority_script)}"))
    med, scale = ref.log_compression
    if (np.log(sig.compression) - med) / scale > config.repetition_z:
        out.append(("repetitive", f"the response repeats itself: it compresses {sig.compression:.1f}x (this "
                                  f"dataset's median {np.exp(med):.1f}x)"))
    if loss is not None and np.isfinite(loss) and ref.log_loss is not None:
        med, scale = ref.log_loss
        z = (np.log(max(loss, 1e-6)) - med) / scale
        if z > config.z:
            out.append(("hard", f"the proxy model finds the response unusually hard to predict: {loss:.2f} nats per "
                                f"token (this dataset's median {np.exp(med):.2f})"))
        elif z < -config.z:
            out.append(("degenerate", f"the response is almost entirely predictable (degenerate or boilerplate): "
                                      f"{loss:.2f} nats per token (this dataset's median {np.exp(med):.2f})"))
    if ifd is not None and np.isfinite(ifd) and ref.ifd_median is not None:
        if ifd >= 1.0:
            out.append(("unrelated", f"the prompt does not help predict the response: IFD {ifd:.2f}"))
        elif ov == 0 and ifd >= ref.ifd_median:
            out.append(("unrelated", f"the response shares none of its numbers and rare words with its prompt, and "
                                     f"the prompt helps predict it less than for most rows: IFD {ifd:.2f} (this "
                                     f"dataset's median {ref.ifd_median:.2f})"))
    if not sig.has_number and ref.number_share >= config.number_share:
        out.append(("no-number", f"no number in the response, while {ref.number_share:.0%} of this dataset's "
                                 f"responses hold one"))
    return out


SIGNALS = ("loss", "loss_alone", "ifd", "overlap", "compression", "symbols", "length", "has_number")


@dataclasses.dataclass(frozen=True)
class Quality:
    """The quality read of a dataset's rows (in the order given): signals, reasons, and which rows are suspect."""

    ids: list[str]
    signals: dict  # name -> (n,) float array (NaN where unknown)
    scripts: list
    reasons: list  # per row: [(code, text), ...]
    ok: np.ndarray  # (n,) bool: tagged ok by the user (never suspect)
    reference: Reference

    @property
    def flagged(self) -> np.ndarray:
        return np.array([bool(r) for r in self.reasons], dtype=bool)

    @property
    def suspect(self) -> np.ndarray:
        return self.flagged & ~self.ok

    def suspect_ids(self) -> list[str]:
        return [i for i, s in zip(self.ids, self.suspect) if s]

    def fingerprint(self) -> str:
        """What results that honour the read depend on: the suspect ids (and the code version)."""
        from core.config import stable_hash

        return stable_hash({"v": QUALITY_VERSION, "suspect": self.suspect_ids()}, length=12)

    def to_json(self, *, rows: bool = False) -> dict:
        out = {"n": len(self.ids), "suspect": [{"id": i, "reasons": [t for _, t in r], "codes": [c for c, _ in r]}
                                               for i, r, s in zip(self.ids, self.reasons, self.suspect) if s],
               "overridden": [i for i, f, o in zip(self.ids, self.flagged, self.ok) if f and o],
               "signals": {name: _summary(v) for name, v in self.signals.items()},
               "reference": self.reference.to_json(),
               "by_reason": dict(collections.Counter(c for r, s in zip(self.reasons, self.suspect) if s
                                                     for c in dict(r)))}
        if rows:
            out["rows"] = [{"id": i, **{k: _num(v[j]) for k, v in self.signals.items()}, "script": self.scripts[j]}
                           for j, i in enumerate(self.ids)]
        return out


def _num(x):
    x = float(x)
    return round(x, 4) if np.isfinite(x) else None


def _summary(v: np.ndarray) -> dict:
    v = v[np.isfinite(v)]
    if not len(v):
        return {"known": 0}
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    return {"known": int(len(v)), "p5": _num(p5), "median": _num(p50), "p95": _num(p95)}


def assess(ids: list[str], pairs: list[tuple[str, str]], losses: list[tuple[float | None, float | None]],
           ok_ids: set[str] = frozenset(), config: QualityConfig = QualityConfig(),
           ref: Reference | None = None) -> Quality:
    """Read every row against the rows' own distribution (or against `ref`, e.g. a seed pool's for candidates)."""
    sigs = [text_signals(p, r) for p, r in pairs]
    loss = np.array([np.nan if a is None else a for a, _ in losses], dtype=np.float64)
    alone = np.array([np.nan if b is None else b for _, b in losses], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ifd = loss / np.maximum(alone, 1e-6)
    ref = ref or reference(sigs, loss if np.isfinite(loss).any() else None, ifd)
    reasons = [flags(s, None if np.isnan(l) else float(l), None if np.isnan(f) else float(f), ref, config)
               for s, l, f in zip(sigs, loss, ifd)]
    signals = {"loss": loss, "loss_alone": alone, "ifd": ifd,
               "overlap": np.array([overlap(s, ref.common) for s in sigs]),
               "compression": np.array([s.compression for s in sigs]), "symbols": np.array([s.symbols for s in sigs]),
               "length": np.array([s.length for s in sigs], dtype=np.float64),
               "has_number": np.array([s.has_number for s in sigs], dtype=np.float64)}
    return Quality(list(ids), signals, [s.script for s in sigs], reasons,
                   np.array([i in ok_ids for i in ids], dtype=bool), ref)


def quality_state(store, dataset: str, config_key: str | None, view: str = "kept") -> str:
    """What a quality read of the view depends on besides its rows' content (the dataset fingerprint): the rules'
    version, the rows tagged ok, and how many rows have both losses. Cheap (no text is read): results that honour the
    read put it in their cache keys, so an `ok` tag or a finished quality pass is never served a stale answer."""
    from core.config import stable_hash

    covered = store.loss_coverage(dataset, config_key, view) if config_key else 0
    return stable_hash({"v": QUALITY_VERSION, "ok": store.tagged(dataset, OK_TAG), "losses": covered}, length=12)


_READS: dict = {}  # (dataset fingerprint, quality state, config key, view) -> Quality, the last few reads


def read_quality(store, dataset: str, config_key: str | None = None, *, view: str = "kept",
                 qconfig: QualityConfig = QualityConfig()) -> Quality:
    """The quality read of the view's rows (dataset order). `config_key`: the feature config whose pass gave the
    losses (core/features/response_loss.py computes what is missing); None or an imported set: text signals only."""
    memo = (str(store.path), dataset, store.fingerprint(dataset, view), quality_state(store, dataset, config_key, view),
            config_key, view, qconfig)
    if memo in _READS:
        return _READS[memo]
    frame = store.samples_frame(dataset, view)
    ids, hashes = frame["id"].tolist(), frame["content_hash"].tolist()
    known = store.dataset_losses(dataset, config_key, view) if config_key else {}
    losses = [known.get(h, (None, None)) for h in hashes]
    q = assess(ids, list(zip(frame["prompt"].tolist(), frame["response"].tolist())), losses,
               set(store.tagged(dataset, OK_TAG)), qconfig)
    if len(_READS) > 8:
        _READS.pop(next(iter(_READS)))
    _READS[memo] = q
    return q
