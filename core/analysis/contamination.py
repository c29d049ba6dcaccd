"""Contamination: eval rows with a near-copy in the training set, each pair with the signal that found it and the
evidence (both texts, the differing words marked).

Signals, strongest first (a pair's `kind` is the strongest that fired; `signals` lists all of them):
- exact: the same prompt and response, character for character;
- normalised: the same prompt once case, accents, punctuation and spacing are set aside (whatever the responses):
  the eval question itself is in training;
- contained: the eval row's text is inside the training row: at least `containment_threshold` (0.9) of its word
  3-shingles are the training row's (hashed shingles counted by a scipy sparse product, each candidate checked on the
  two texts' shingles; datasketch's MinHash LSH Ensemble took 28 s to index 10k rows and missed such an item at
  containment 0.97 in a row 4.5x longer at its bar 0.7), where the training row is longer: minerva rows that quote an eval subproblem with its
  solution as the context of the next one (Jaccard 0.4-0.5 for the longer rows; the next unplanted pair on
  bench/target.py's data sits at 0.85, a copy with other numbers);
- minhash: word 3-shingles of prompt + response with an estimated Jaccard >= minhash_threshold (datasketch MinHash
  LSH, 128 permutations): the text was copied with edits;
- gradient: cosine of the unit gradient features >= the dedup threshold (dedup.DEFAULT_THRESHOLD), raised where the
  training rows crowd closer than that: to the 99th percentile of the training rows' own nearest-neighbour cosines
  (on a seeded sample of 2,000 of them), at most 0.95. Such a pair teaches the model the same thing however the text
  was changed (renamed, reordered, reworded). The floor exists because in some spaces distinct rows sit above 0.85:
  SVAMP's short equation answers under the light test features reach 0.93 from one another, while its reworded
  copies sit at 0.96-1.0 (bench/target.py); a threshold given explicitly (CLI --gradient-threshold) is used as is.

Numbers must agree (`numbers_must_agree`): a pair found only by shingles (contained, minhash) or the gradient is a
copy when every number of the eval row's prompt and its final answer (the response's last number) is also in the
training row (digits normalised: 1,000 = 1000, 6.0 = 6; "five" in the training text counts as 5). Otherwise the pair is a *variant*: the
same template with other numbers, or a sibling subproblem that shares the eval row's preamble (or holds it as context)
but asks another question, is a different problem with a different answer, not the eval item. Variants are listed
apart (`Contamination.variants`), never excluded. Why: on bench/target.py's data every false hit of the text and
gradient signals was such a pair: SVAMP's "6 emails in the morning and 2 in the afternoon" beside its "6 ... and 8"
twin, minerva subproblems sharing a preamble (the light features read 32 tokens: the preamble alone, so siblings sit
at cosine 0.97), SVAMP problems with one equation shape at 0.935; every planted exact and reworded copy keeps its
numbers. What it costs: a copy that spells its numbers out in the eval row ("five" where training has "5" passes, the
other way not) or that drops one is a variant. Copies with other numbers are what the rule sets aside: bench/target.py
reports what each signal calls them before it.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.contamination_text import (contained_pairs, joined, marked_diff, missing_numbers,  # noqa: F401
                                              normalise, numbers, numbers_agree, shingles)
from core.analysis.dedup import DEFAULT_THRESHOLD
from core.analysis.sparsity import unit

KINDS = ("exact", "normalised", "contained", "minhash", "gradient")


@dataclasses.dataclass(frozen=True)
class ContaminationConfig:
    # bench/target.py: reworded copies sit at a median Jaccard of 0.61-0.97, copies with other numbers at 0.34-0.49
    minhash_threshold: float = 0.5
    containment_threshold: float | None = 0.9  # None: no containment signal
    num_perm: int = 128
    shingle: int = 3
    gradient_threshold: float = DEFAULT_THRESHOLD
    adaptive: bool = True  # raise the gradient threshold to where the training rows' own neighbours sit (see above)
    adaptive_quantile: float = 0.99
    adaptive_cap: float = 0.95
    adaptive_sample: int = 2000
    neighbours: int = 10  # training rows looked at per eval row in gradient space
    evidence_chars: int = 4000  # each text in the evidence is cut to this many characters
    numbers_must_agree: bool = True  # MinHash and gradient pairs: the eval row's numbers in the training row


@dataclasses.dataclass(frozen=True)
class Hit:
    eval_index: int
    train_index: int
    kind: str
    signals: tuple[str, ...]
    similarity: float | None  # gradient cosine of the pair (None without features)
    jaccard: float  # MinHash estimate of the pair's word-shingle Jaccard
    containment: float = 0.0  # the share of the eval row's word shingles that are the training row's


@dataclasses.dataclass(frozen=True)
class Contamination:
    hits: list[Hit]  # ordered by eval row, then strongest kind, then similarity
    config: ContaminationConfig
    gradient_threshold: float | None = None  # the cosine the gradient signal used (None without features)
    variants: list[Hit] = dataclasses.field(default_factory=list)  # text- or gradient-alike, other numbers: no copy

    def train_indices(self) -> list[int]:
        return sorted({h.train_index for h in self.hits})

    def eval_indices(self) -> list[int]:
        return sorted({h.eval_index for h in self.hits})

    def to_json(self, eval_ids: list[str], train_ids: list[str], eval_texts: list[tuple[str, str]] | None = None,
                train_texts: list[tuple[str, str]] | None = None, *, variants: bool = False) -> list[dict]:
        """The hits (or, with `variants`, the variants) as JSON rows, with evidence where the texts are given."""
        out = []
        for h in (self.variants if variants else self.hits):
            row = {"eval_id": eval_ids[h.eval_index], "train_id": train_ids[h.train_index], "kind": h.kind,
                   "similarity": None if h.similarity is None else round(h.similarity, 4),
                   "signals": list(h.signals), "jaccard": round(h.jaccard, 4),
                   "containment": round(h.containment, 4)}
            if eval_texts is not None and train_texts is not None:
                row["evidence"] = evidence(joined(eval_texts[h.eval_index]), joined(train_texts[h.train_index]),
                                           self.config.evidence_chars)
                row["evidence"]["numbers_only_in_eval"] = missing_numbers(eval_texts[h.eval_index],
                                                                          train_texts[h.train_index])
            out.append(row)
        return out


def minhashes(texts: list[str], config: ContaminationConfig) -> list:
    from datasketch import MinHash

    # bulk: one set of permutations for all (a MinHash each would draw its own: most of the time at 10k rows)
    return MinHash.bulk(([g.encode() for g in shingles(text, config.shingle)] for text in texts),
                        num_perm=config.num_perm, seed=1)


def evidence(eval_text: str, train_text: str, limit: int = 4000) -> dict:
    """Both texts (cut to `limit` characters) and the training text marked against the eval text."""
    a, b = eval_text[:limit], train_text[:limit]
    return {"eval_text": a, "train_text": b, "diff": marked_diff(a, b)}


def find_contamination(eval_texts: list[tuple[str, str]], train_texts: list[tuple[str, str]],
                       E: np.ndarray | None = None, T: np.ndarray | None = None,
                       config: ContaminationConfig = ContaminationConfig()) -> Contamination:
    """Every (eval row, training row) pair that some signal calls a copy. Texts are (prompt, response); E and T the
    rows' gradient features in the same order (both None: the text signals only)."""
    from datasketch import MinHashLSH

    found: dict[tuple[int, int], set[str]] = {}

    def add(pair: tuple[int, int], kind: str) -> None:
        found.setdefault(pair, set()).add(kind)

    exact: dict[tuple[str, str], list[int]] = {}
    by_prompt: dict[str, list[int]] = {}
    for i, (p, r) in enumerate(train_texts):
        exact.setdefault((p, r), []).append(i)
        by_prompt.setdefault(normalise(p), []).append(i)
    for j, (p, r) in enumerate(eval_texts):
        for i in exact.get((p, r), []):
            add((j, i), "exact")
        key = normalise(p)
        if key:
            for i in by_prompt.get(key, []):
                add((j, i), "normalised")

    train_hashes = minhashes([joined(t) for t in train_texts], config)
    eval_hashes = minhashes([joined(t) for t in eval_texts], config)
    # LSH weighted toward recall (a missed copy costs more than a candidate checked): every candidate's estimated
    # Jaccard is compared with the threshold below, so precision is kept
    lsh = MinHashLSH(threshold=config.minhash_threshold, num_perm=config.num_perm, weights=(0.05, 0.95))
    for i, m in enumerate(train_hashes):
        lsh.insert(str(i), m)
    for j, m in enumerate(eval_hashes):
        for key in lsh.query(m):
            i = int(key)
            if m.jaccard(train_hashes[i]) >= config.minhash_threshold:  # LSH candidates are approximate
                add((j, i), "minhash")

    if config.containment_threshold is not None and train_texts and eval_texts:
        for j, i in contained_pairs(eval_texts, train_texts, config):
            add((j, i), "contained")

    Tu = Eu = None
    if E is not None and T is not None and len(E) and len(T):
        from core.analysis.coverage import nearest_rows

        Tu, Eu = unit(T), unit(E)
        threshold = gradient_threshold(Tu, config)
        sims, idx = nearest_rows(Tu, Eu, config.neighbours)
        for j, i in zip(*np.nonzero(sims >= threshold)):
            add((int(j), int(idx[j, i])), "gradient")

    hits, variants = [], []
    for (j, i), kinds in found.items():
        signals = tuple(k for k in KINDS if k in kinds)
        sim = float(Eu[j] @ Tu[i]) if Eu is not None else None
        mine = shingles(joined(eval_texts[j]), config.shingle)
        share = len(mine & shingles(joined(train_texts[i]), config.shingle)) / max(1, len(mine))
        hit = Hit(j, i, signals[0], signals, sim, float(eval_hashes[j].jaccard(train_hashes[i])), share)
        text_only = not kinds & {"exact", "normalised"}  # shingles or gradient alone: the numbers must agree
        if config.numbers_must_agree and text_only and not numbers_agree(eval_texts[j], train_texts[i]):
            variants.append(hit)
        else:
            hits.append(hit)
    order = lambda h: (h.eval_index, KINDS.index(h.kind), -(h.similarity or 0.0), h.train_index)  # noqa: E731
    return Contamination(sorted(hits, key=order), config, threshold if Tu is not None else None,
                         sorted(variants, key=order))


def gradient_threshold(Tu: np.ndarray, config: ContaminationConfig) -> float:
    """The gradient signal's cosine: the configured one, or (adaptive) raised to the `adaptive_quantile` of the
    training rows' nearest-neighbour cosines (a seeded sample of rows against all of them), at most `adaptive_cap`."""
    from core.analysis.coverage import nearest_rows

    if not config.adaptive or len(Tu) < 3:
        return config.gradient_threshold
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(Tu), min(config.adaptive_sample, len(Tu)), replace=False))
    sims, idx = nearest_rows(Tu, Tu[sample], 2)
    own = idx[:, 0] == sample  # each sampled row finds itself first, unless an exact copy ties with it
    nearest = np.where(own, sims[:, 1], sims[:, 0])
    floor = float(np.quantile(nearest, config.adaptive_quantile))
    return max(config.gradient_threshold, min(floor, config.adaptive_cap))
