"""Turning generator replies into candidates: the prompts, problem parsing, answer extraction and the majority vote."""
from __future__ import annotations

import logging
import re

# math-verify warns on every call that its signal-based timeout is off; it must be off in worker threads
logging.getLogger("math_verify").setLevel(logging.ERROR)

PROBLEM_PROMPT = (
    "Here are some example problems:\n\n{examples}\n\n"
    "Write {count} new problems that are similar in style or harder, and clearly different from the examples. "
    "Start each one on its own line with \"Problem 1:\", \"Problem 2:\" and so on. Do not solve them.")
SOLVE_PROMPT = "{problem}\n\nSolve the problem step by step, then give the final answer as \\boxed{{answer}}."
PROBLEM_MARK = re.compile(r"(?im)^[\s>*#_-]*(?:new\s+)?problem\s*#?\s*(\d+)\s*[*_]*\s*[:.)\-]\s*[*_]*")


def parse_problems(text: str, limit: int) -> list[str]:
    """'Problem 1: ...' blocks (markdown-tolerant); a reply without markers counts as one problem if it looks like one."""
    marks = list(PROBLEM_MARK.finditer(text))
    if marks:
        parts = [text[m.end(): (marks[i + 1].start() if i + 1 < len(marks) else len(text))]
                 for i, m in enumerate(marks)]
    else:
        parts = [text]
    out = []
    for part in parts:
        part = re.split(r"(?im)^\s*[*_#]*\s*(?:solution|answer)\s*[*_]*\s*:", part)[0].strip()
        if len(part) >= 20 and re.search(r"[A-Za-z]{3,}", part) and part not in out:
            out.append(part)
    return out[:limit]


def extract_answer(text: str, mode: str):
    """A comparable final answer, or None. math: math-verify's parse of the \\boxed{} (or last) expression: a list of
    the parsed value(s) and, last, the string of the *first match it tried* (its fallback: not necessarily the match it
    parsed; see answer_text). A parse with no value, only that string, is no answer: nothing to compare."""
    if mode == "math":
        from math_verify import parse

        # parsing_timeout=None: math-verify's timeout uses signals, which only work on the main thread
        parsed = parse(text, parsing_timeout=None)
        return parsed if any(not isinstance(p, str) for p in parsed) else None
    if mode == "exact":
        lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
        return re.sub(r"\s+", " ", lines[-1].lower()).strip(" .") if lines else None
    return text.strip() or None


def _same(a, b, mode: str) -> bool:
    if mode == "math":
        from math_verify import verify

        return bool(verify(a, b, timeout_seconds=None))
    return a == b


def majority(answers: list, mode: str) -> tuple[int | None, int]:
    """(index of the solution whose answer the most samples agree with, its votes); None when it has no more than half
    the votes of all samples (those without an answer count against: 2 of 3 wins, 2 of 4 does not).

    A solution's votes are the samples whose answer agrees with its answer (itself included; math: math-verify's
    verify with its answer as the gold), every pair compared, ties to the earliest. That is the acceptance rule of
    Prismatic Synthesis (a problem is kept when its majority-voted answer agrees with a majority of the samples), and
    it does not depend on the samples' order: math-verify's equivalence is neither transitive nor symmetric (it rounds
    the target to the gold's precision), so grouping each answer with the first group head it matches could miss the
    answer most samples agree with."""
    if mode == "none":
        first = next((i for i, a in enumerate(answers) if a is not None), None)
        return first, 1 if first is not None else 0
    given = [i for i, a in enumerate(answers) if a is not None]
    if not given:
        return None, 0
    votes = {i: sum(1 for j in given if j == i or _same(answers[i], answers[j], mode)) for i in given}
    best = max(given, key=lambda i: (votes[i], -i))
    return (best, votes[best]) if votes[best] * 2 > len(answers) else (None, votes[best])


def answer_text(answer, mode: str) -> str | None:
    """The answer as text: math, the value that was compared. math-verify's trailing string is its first match's
    (the rightmost it tried), which need not be the one it parsed: "the answer is 6 ... $4.00\\cdot B. The total$"
    parses to 6 with the string "4.00\\cdot B. The total". That string is shown only where it parses to the same
    value (so "\\frac{1}{3}" and "6.0" keep their written form); otherwise the value's own text."""
    if answer is None:
        return None
    if mode == "math":
        if not isinstance(answer, list):
            return str(answer)
        values = [a for a in answer if not isinstance(a, str)]
        written = answer[-1] if isinstance(answer[-1], str) else None
        if not values:
            return written
        if written is not None and _written_is(written, values[0]):
            return written
        return str(values[0])
    return str(answer)


def _written_is(written: str, value) -> bool:
    """Whether the string math-verify kept parses, alone, to this very value."""
    from math_verify import parse

    again = parse(f"${written}$", parsing_timeout=None)
    try:
        return bool(again) and not isinstance(again[0], str) and again[0] == value
    except Exception:  # sympy comparisons of odd objects
        return False
