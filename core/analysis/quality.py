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

Each signal is read against the dataset's own distribution (robust z-scores: 1.4826 x MAD in log space; shares and
quantiles of the dataset), never against a constant tuned on one dataset. Loss per token and compression both depend
on a response's length (a long solution compresses 2x and is easier per token than a one-line answer), so those two
are read against the dataset's trend with log length (a Theil-Sen line), not its median: long but good rows in a
dataset of short answers are not outliers. The few fixed numbers are definitions ("the prompt does not help": IFD >=
1; "most of it is symbols": > 50%), not fits. A row is suspect when any rule fires; each says why in words. Rules
(QualityConfig):
- unrelated: IFD >= 1 on a response long enough for its IFD to mean something (40+ characters: on a one-line answer
  one token's loss decides it), or, in a dataset where most responses reuse their prompt's numbers or words, it
  shares none of them while the prompt helps less than it does for the median row;
- hard to predict: log loss more than z robust deviations above the length trend (random letters, base64);
- degenerate: the log loss of the response alone more than z below its trend: predictable without its prompt (a
  list of numbers, boilerplate). A low loss given the prompt is a prompt that helps, not junk;
- repetitive: log compression more than repetition_z above the length trend;
- symbols: mostly symbols, where the dataset's median row has almost none;
- markup: mostly HTML/XML tags, where the dataset's median row has almost none;
- noise: mostly long unbroken strings of letters and digits (base64, hashes, keys);
- script: most letters in a script that fewer than 5% of the dataset's rows use;
- no number: a response without a number where nearly every response (80%+) has one.
bench/quality.py measures recall per kind of junk and false positives per source, and that rare but good rows
(long minerva_math solutions among GSM8K) keep their sparse enrichment.
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np

from core.analysis.text_signals import RowSignals, script_name, text_signals

QUALITY_VERSION = 2  # the rules' version: part of every cache key of results that honour the read (cache.KINDS)
OK_TAG = "ok"  # a user's override: a row tagged ok is never suspect (its reasons are still shown)
MIN_IFD_CHARS = 40  # below this a response's IFD rests on a few tokens (one-line answers): not judged alone
COMMON_WORDS = 50


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    z: float = 3.5  # robust deviations of log loss beyond which a row is hard to predict / degenerate
    repetition_z: float = 4.0  # robust deviations of log compression beyond which a row repeats itself
    symbol_share: float = 0.5  # "most of the response is symbols"
    rare_script: float = 0.05  # a script used by fewer than this share of the dataset's rows
    number_share: float = 0.8  # "nearly every response holds a number"
    markup_share: float = 0.3  # "the response is mostly markup"
    noise_share: float = 0.5  # "most of the response is long unbroken letter-and-digit strings"
    overlap_rows: float = 0.5  # the overlap rule applies where at least this share of rows reuse their prompt's words


def _robust(values: np.ndarray, floor: float = 0.05) -> tuple[float, float]:
    """(median, 1.4826 x MAD), the scale floored so that a dataset of near-identical rows flags nothing by accident."""
    values = values[np.isfinite(values)]
    if not len(values):
        return 0.0, 1.0
    med = float(np.median(values))
    return med, max(1.4826 * float(np.median(np.abs(values - med))), floor)


LOSS_FLOOR = 0.25  # the least robust scale of log loss and log compression: z = 3.5 is then at least 2.4x off the
# trend (a good but unusually easy, hard or templated row varies that much; a small dataset's MAD alone can be tight)
TREND_SAMPLE = 2000  # rows the Theil-Sen line is fitted on (its cost is quadratic); the scale uses every row


def _trend(log_length: np.ndarray, values: np.ndarray, floor: float = 0.05) -> tuple[float, ...]:
    """(intercept, slope, scale, lo, hi): a robust (Theil-Sen) line of values over log length, 1.4826 x MAD of the
    residuals, and the log lengths it holds for (its 1st to 99th percentile: never extrapolated past them). Where
    the lengths barely vary (5th to 95th percentile within 4x) there is no line to fit: the median (slope 0)."""
    from scipy.stats import theilslopes

    ok = np.isfinite(values) & np.isfinite(log_length)
    x, y = log_length[ok], values[ok]
    if not len(y):
        return 0.0, 0.0, 1.0, 0.0, 0.0
    slope, intercept = 0.0, float(np.median(y))
    p1, p5, p95, p99 = np.percentile(x, [1, 5, 95, 99])
    if p95 - p5 >= np.log(4.0):
        pick = np.random.default_rng(0).choice(len(y), TREND_SAMPLE, replace=False) if len(y) > TREND_SAMPLE \
            else slice(None)
        slope, intercept = (float(v) for v in theilslopes(y[pick], x[pick])[:2])
    resid = y - (intercept + slope * np.clip(x, p1, p99))
    scale = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), floor)
    return intercept, slope, scale, float(p1), float(p99)


def _deviation(trend: tuple[float, ...], log_length: float, value: float) -> tuple[float, float]:
    """(robust z of value against the trend at this length, the trend's value there)."""
    a, b, scale, lo, hi = trend
    expected = a + b * min(max(log_length, lo), hi)
    return (value - expected) / scale, expected


@dataclasses.dataclass(frozen=True)
class Reference:
    """The dataset's own distribution of every signal: what a row is read against."""

    n: int
    log_loss: tuple[float, ...] | None  # log loss over log length: _trend's (intercept, slope, scale, lo, hi)
    ifd_median: float | None
    log_compression: tuple[float, ...]  # the same for log compression
    log_loss_alone: tuple[float, ...] | None  # the same for the loss of the response alone
    symbols_median: float
    markup_median: float
    overlap_rows: float  # share of rows whose response reuses a number or rare word of its prompt
    script_share: dict
    majority_script: str | None
    number_share: float
    common: frozenset

    def to_json(self) -> dict:
        return {"n": self.n, "loss_trend": None if self.log_loss is None else [round(v, 4) for v in self.log_loss],
                "ifd_median": self.ifd_median, "compression_trend": [round(v, 4) for v in self.log_compression],
                "symbols_median": self.symbols_median, "markup_median": self.markup_median,
                "overlap_rows": self.overlap_rows, "majority_script": self.majority_script,
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
    log_len = np.log(np.maximum([s.length for s in signals], 1)) if n else np.zeros(0)
    return Reference(
        n=n, log_loss=_trend(log_len, np.log(np.maximum(loss, 1e-6)), LOSS_FLOOR) if has_loss else None,
        log_loss_alone=_trend(log_len, np.log(np.maximum(loss / ifd, 1e-6)), LOSS_FLOOR)
        if has_loss and ifd is not None else None,
        ifd_median=float(np.nanmedian(ifd)) if has_loss and ifd is not None else None,
        log_compression=(_trend(log_len, np.log([s.compression for s in signals]), LOSS_FLOOR) if n
                         else (0.0, 0.0, 1.0, 0.0, 0.0)),
        symbols_median=float(np.median([s.symbols for s in signals])) if n else 0.0,
        markup_median=float(np.median([s.markup for s in signals])) if n else 0.0,
        overlap_rows=float(np.mean([overlap(s, common) > 0 for s in signals])) if n else 0.0,
        script_share={k: v / sum(scripts.values()) for k, v in scripts.items()}, majority_script=scripts.most_common(1)[0][0]
        if scripts else None, number_share=float(np.mean([s.has_number for s in signals])) if n else 0.0,
        common=common)


def flags(sig: RowSignals, loss: float | None, ifd: float | None, ref: Reference,
          config: QualityConfig = QualityConfig()) -> list[tuple[str, str]]:
    """(code, reason in words) of every rule the row trips, read against the reference; the most specific first.
    loss: the response's given its prompt; ifd: loss / the loss of the response alone."""
    out = []
    ov = overlap(sig, ref.common)
    if sig.symbols > config.symbol_share and ref.symbols_median < 0.1:
        out.append(("symbols", f"{sig.symbols:.0%} of the response is symbols or emoji (this dataset's median "
                               f"{ref.symbols_median:.0%})"))
    if (sig.script and ref.majority_script and sig.script != ref.majority_script
            and ref.script_share.get(sig.script, 0.0) < config.rare_script):
        out.append(("script", f"written in {script_name(sig.script)} script, while "
                              f"{ref.script_share[ref.majority_script]:.0%} of this dataset's text is "
                              f"{script_name(ref.majority_script)}"))
    if sig.markup > config.markup_share and ref.markup_median < 0.05:
        out.append(("markup", f"{sig.markup:.0%} of the response is HTML/XML markup (this dataset's median "
                              f"{ref.markup_median:.0%})"))
    if sig.noise > config.noise_share:
        out.append(("noise", f"{sig.noise:.0%} of the response is long unbroken strings of letters and digits "
                             f"(encoded data, hashes or keys)"))
    log_len = float(np.log(max(sig.length, 1)))
    z, expected = _deviation(ref.log_compression, log_len, float(np.log(sig.compression)))
    if z > config.repetition_z:
        out.append(("repetitive", f"the response repeats itself: it compresses {sig.compression:.1f}x (rows of its "
                                  f"length in this dataset: {np.exp(expected):.1f}x)"))
    if loss is not None and np.isfinite(loss) and ref.log_loss is not None:
        z, expected = _deviation(ref.log_loss, log_len, float(np.log(max(loss, 1e-6))))
        if z > config.z:
            out.append(("hard", f"the proxy model finds the response unusually hard to predict: {loss:.2f} nats per "
                                f"token (rows of its length in this dataset: {np.exp(expected):.2f})"))
        alone = loss / ifd if ifd is not None and np.isfinite(ifd) and ifd > 0 else None
        if alone is not None and ref.log_loss_alone is not None:  # predictable without its prompt: boilerplate
            z, expected = _deviation(ref.log_loss_alone, log_len, float(np.log(max(alone, 1e-6))))
            if z < -config.z:
                out.append(("degenerate", f"the response is almost entirely predictable even without its prompt "
                                          f"(degenerate or boilerplate): {alone:.2f} nats per token (rows of its "
                                          f"length in this dataset: {np.exp(expected):.2f})"))
    if ifd is not None and np.isfinite(ifd) and ref.ifd_median is not None:
        if ifd >= 1.0 and sig.length >= MIN_IFD_CHARS:
            out.append(("unrelated", f"the prompt does not help predict the response: IFD {ifd:.2f}"))
        elif ov == 0 and ifd >= ref.ifd_median and ref.overlap_rows >= config.overlap_rows:
            out.append(("unrelated", f"the response shares none of its numbers and rare words with its prompt, and "
                                     f"the prompt helps predict it less than for most rows: IFD {ifd:.2f} (this "
                                     f"dataset's median {ref.ifd_median:.2f})"))
    if not sig.has_number and ref.number_share >= config.number_share:
        out.append(("no-number", f"no number in the response, while {ref.number_share:.0%} of this dataset's "
                                 f"responses hold one"))
    return out


SIGNALS = ("loss", "loss_alone", "ifd", "overlap", "compression", "symbols", "markup", "noise", "length", "has_number")


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
        from core.analysis import cache

        return cache.key("suspects", suspect=self.suspect_ids()).digest

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
               "markup": np.array([s.markup for s in sigs]), "noise": np.array([s.noise for s in sigs]),
               "length": np.array([s.length for s in sigs], dtype=np.float64),
               "has_number": np.array([s.has_number for s in sigs], dtype=np.float64)}
    return Quality(list(ids), signals, [s.script for s in sigs], reasons,
                   np.array([i in ok_ids for i in ids], dtype=bool), ref)


def quality_state(store, dataset: str, config_key: str | None, view: str = "kept") -> str:
    """What a quality read of the view depends on besides its rows' content (the dataset fingerprint): the rules'
    version, the rows tagged ok, and how many rows have both losses. Cheap (no text is read): results that honour the
    read put it in their cache keys, so an `ok` tag or a finished quality pass is never served a stale answer."""
    from core.analysis import cache

    covered = store.loss_coverage(dataset, config_key, view) if config_key else 0
    return cache.key("quality", ok=store.tagged(dataset, OK_TAG), losses=covered).digest


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
