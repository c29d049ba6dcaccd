"""Text helpers of contamination.py: normalised text, word shingles and their containment (a sparse product),
the numbers of a row and the numbers rule, the word diff of the evidence."""
from __future__ import annotations

import re
import unicodedata

import numpy as np

SHINGLE_BUCKETS = 1 << 22


def joined(text: tuple[str, str]) -> str:
    return text[0] + "\n" + text[1]


def normalise(text: str) -> str:
    """Case, accents, punctuation and spacing set aside."""
    if not text.isascii():
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return " ".join(re.findall(r"\w+", text.lower()))


NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty".split())} | {w: str(10 * i) for i, w in enumerate(
        "thirty forty fifty sixty seventy eighty ninety".split(), start=3)} | {"hundred": "100", "thousand": "1000"}


def numbers(text: str, words: bool = False) -> list[str]:
    """The numbers of a text, in order, normalised (1,000 -> 1000, 6.0 -> 6, 007 -> 7); `words`: number words too."""
    from decimal import Decimal

    out = [format(Decimal(m.replace(",", "")).normalize(), "f") for m in NUMBER.findall(text)]
    if words:
        out += [NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in NUMBER_WORDS]
    return out


def key_numbers(text: tuple[str, str]) -> list[str]:
    """What an eval row's numbers are for the numbers rule: its prompt's numbers and its final answer (the response's
    last number), each once, in order."""
    return list(dict.fromkeys(numbers(text[0]) + numbers(text[1])[-1:]))


def missing_numbers(eval_text: tuple[str, str], train_text: tuple[str, str]) -> list[str]:
    """The eval row's key numbers that the training row lacks (its digits or number words), in the eval row's order:
    what makes a variant a variant (empty for a copy that keeps its numbers)."""
    have = set(numbers(joined(train_text), words=True))
    return [n for n in key_numbers(eval_text) if n not in have]


def numbers_agree(eval_text: tuple[str, str], train_text: tuple[str, str]) -> bool:
    """Every key number of the eval row appears in the training row."""
    return not missing_numbers(eval_text, train_text)


def shingles(text: str, size: int) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[j:j + size]) for j in range(max(1, len(words) - size + 1))}


def shingle_matrix(texts: list[str], size: int) -> "scipy.sparse.csr_matrix":
    """Rows x 2^22 hashed word shingles, 1 where a text has one (crc32: the same in every process)."""
    import zlib

    import scipy.sparse as sp

    rows, cols = [], []
    for r, text in enumerate(texts):
        grams = shingles(text, size)
        cols += [zlib.crc32(g.encode()) & (SHINGLE_BUCKETS - 1) for g in grams]
        rows += [r] * len(grams)
    M = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), SHINGLE_BUCKETS))
    M.sum_duplicates()
    M.data[:] = 1
    return M


def contained_pairs(eval_texts: list[tuple[str, str]], train_texts: list[tuple[str, str]],
                    config, chunk: int = 20_000) -> list[tuple[int, int]]:
    """(eval row, training row) pairs where >= containment_threshold of the eval row's word shingles are the training
    row's: shared hashed shingles counted by one sparse product per chunk of training rows (scipy; a hash collision
    only adds a candidate), each candidate then checked on the two texts' shingles."""
    Q = shingle_matrix([joined(t) for t in eval_texts], config.shingle)
    need = config.containment_threshold * np.asarray(Q.sum(axis=1)).ravel()
    mine = {}
    out = []
    for start in range(0, len(train_texts), chunk):
        part = train_texts[start:start + chunk]
        shared = (Q @ shingle_matrix([joined(t) for t in part], config.shingle).T).tocoo()
        keep = (shared.data >= need[shared.row] - 1e-6) & (need[shared.row] > 0)
        for j, i in zip(shared.row[keep].tolist(), shared.col[keep].tolist()):
            if j not in mine:
                mine[j] = shingles(joined(eval_texts[j]), config.shingle)
            if len(mine[j] & shingles(joined(part[i]), config.shingle)) >= config.containment_threshold * len(mine[j]):
                out.append((j, start + i))
    return out


def marked_diff(a: str, b: str) -> str:
    """b against a, word by word: words only in a as [-...-], words only in b as {+...+}, shared words as they are."""
    import difflib

    wa, wb = re.findall(r"\S+", a), re.findall(r"\S+", b)
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(" ".join(wa[i1:i2]))
            continue
        if i2 > i1:
            parts.append("[-" + " ".join(wa[i1:i2]) + "-]")
        if j2 > j1:
            parts.append("{+" + " ".join(wb[j1:j2]) + "+}")
    return " ".join(parts)
