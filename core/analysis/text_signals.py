"""What the text of a row says about its quality, from the text alone (no model): the signals core/analysis/quality.py
reads against the dataset's own distribution. compression: raw / zlib-compressed bytes of the response (repetition);
symbols: the share of its non-space characters that are neither letters, digits nor ASCII punctuation; script: the
writing system of most of its letters; markup: the share inside HTML/XML tags; noise: the share in long unbroken
letter-and-digit runs (base64, hashes, keys); has_number; length; and the numbers and rare-candidate words of the
response and of its prompt (for the overlap rule)."""
from __future__ import annotations

import collections
import dataclasses
import functools
import re
import unicodedata
import zlib

TOKENS = re.compile(r"[^\W\d_]{4,}|\d+(?:\.\d+)?")
DIGIT = re.compile(r"\d")
TAG = re.compile(r"</?[A-Za-z!][^<>]{0,200}>")
NOISE_RUN = re.compile(r"[A-Za-z0-9+/=_-]{24,}")


@dataclasses.dataclass(frozen=True)
class RowSignals:
    length: int
    compression: float
    symbols: float
    has_number: bool
    script: str | None
    words: frozenset  # the response's numbers and 4+-letter words
    prompt_words: frozenset
    markup: float = 0.0  # share of the response's characters inside HTML/XML tags
    noise: float = 0.0  # share of its non-space characters in 24+-long runs mixing letters and digits


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
    markup = sum(len(m) for m in TAG.findall(response)) / len(response) if "<" in response else 0.0
    visible = sum(1 for c in response if not c.isspace()) or 1
    noise = sum(len(m) for m in NOISE_RUN.findall(response)
                if DIGIT.search(m) and re.search(r"[A-Za-z]", m)) / visible
    return RowSignals(len(response), compression, symbols, bool(DIGIT.search(response)), script, _words(response),
                      _words(prompt), markup, noise)


def script_name(script: str) -> str:
    """A script as a reason names it: CJK stays upper case, Latin and Cyrillic are title-cased."""
    return script if len(script) <= 3 else script.title()  # CJK, Latin, Cyrillic
