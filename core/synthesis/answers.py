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
    """A comparable final answer, or None. math: math-verify's parse of the \\boxed{} (or last) expression."""
    if mode == "math":
        from math_verify import parse

        # parsing_timeout=None: math-verify's timeout uses signals, which only work on the main thread
        parsed = parse(text, parsing_timeout=None)
        return parsed if parsed else None
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
    """(index of a solution holding the majority answer, its votes); None when no answer has > half the votes."""
    if mode == "none":
        first = next((i for i, a in enumerate(answers) if a is not None), None)
        return first, 1 if first is not None else 0
    groups: list[list[int]] = []
    for i, a in enumerate(answers):
        if a is None:
            continue
        for g in groups:
            if _same(answers[g[0]], a, mode):
                g.append(i)
                break
        else:
            groups.append([i])
    if not groups:
        return None, 0
    best = max(groups, key=len)
    return (best[0], len(best)) if len(best) * 2 > len(answers) else (None, len(best))


def answer_text(answer, mode: str) -> str | None:
    if answer is None:
        return None
    if mode == "math":
        return str(answer[-1]) if isinstance(answer, list) else str(answer)
    return str(answer)
