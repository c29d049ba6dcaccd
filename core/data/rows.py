"""One raw row: which columns are the prompt and the response (its shape), their text, and the other fields as
strict JSON. Every check raises ValueError with a reason meant for the user: the row becomes a bad row."""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
from typing import Any, Iterable

# (prompt column, response column) pairs recognised without a mapping, in order of preference.
KNOWN_SHAPES: tuple[tuple[str, str], ...] = (
    ("prompt", "response"),
    ("prompt", "completion"),
    ("instruction", "output"),
    ("question", "answer"),
    ("problem", "solution"),
)


@dataclasses.dataclass(frozen=True)
class Shape:
    name: str  # "question/answer", "messages" or "mapping"
    prompt: str = ""  # the row's own column names ('Question ' matches question)
    response: str = ""


def detect_shape(columns: Iterable[Any]) -> Shape | None:
    """The first known shape among the columns, matched ignoring case and surrounding spaces."""
    keys: dict[str, str] = {}
    for col in columns:
        if isinstance(col, str):
            keys.setdefault(col.strip().lower(), col)
    if "messages" in keys:
        return Shape("messages", keys["messages"])
    for p, r in KNOWN_SHAPES:
        if p in keys and r in keys:
            return Shape(f"{p}/{r}", keys[p], keys[r])
    return None


def _as_text(value: Any, field: str) -> str:
    if isinstance(value, bytes):  # Parquet binary columns often hold text
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"field {field!r} holds bytes that are not UTF-8 text") from None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"missing field {field!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"field {field!r} has type {type_name(value)}, expected text")
    text = str(value)
    if not text.strip():
        raise ValueError(f"empty field {field!r}")
    return text


def type_name(value: Any) -> str:
    return {type(None): "null", dict: "object", list: "array"}.get(type(value), type(value).__name__)


def _from_messages(messages: Any) -> tuple[str, str]:
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list of {role, content}")
    for m in messages:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError("each message needs 'role' and 'content'")
    last_assistant = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last_assistant is None:
        raise ValueError("'messages' has no assistant turn")
    response = _as_text(messages[last_assistant]["content"], "assistant content")
    before = messages[:last_assistant]
    if not before:
        raise ValueError("'messages' has no turn before the last assistant turn")
    if len(before) == 1:
        prompt = _as_text(before[0]["content"], "user content")
    else:  # keep the multi-turn context readable and stable
        prompt = "\n\n".join(f"{m['role']}: {_as_text(m['content'], str(m['role']) + ' content')}" for m in before)
    return prompt, response


def extract(row: dict, shape: Shape) -> tuple[str, str, set]:
    if shape.name == "messages":
        return (*_from_messages(row.get(shape.prompt)), {shape.prompt})
    missing = [c for c in (shape.prompt, shape.response) if c not in row]
    if missing:
        label = "column(s)" if shape.name == "mapping" else "field"
        raise ValueError(f"missing {label} {', '.join(map(repr, missing))}")
    return _as_text(row[shape.prompt], shape.prompt), _as_text(row[shape.response], shape.response), \
        {shape.prompt, shape.response}


def meta_fields(row: dict, used: set) -> tuple[dict, str]:
    """The row's other fields and their strict-JSON text: values JSON cannot hold are dropped, NaN/Infinity
    become null (DuckDB's JSON type refuses them), and a lone surrogate anywhere makes the row bad."""
    meta = {k: v for k, v in row.items() if k not in used}
    try:
        text = json.dumps(meta, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        meta = {k: _finite(v) for k, v in meta.items() if _jsonable(v)}
        text = json.dumps(meta, ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            bad = next(k for k in meta if not _encodable(json.dumps({k: meta[k]}, ensure_ascii=False)))
            raise ValueError(f"field {bad!r} holds a lone surrogate (e.g. \\ud800): not valid Unicode") from None
    return meta, text


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def utf8(text: str, field: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"field {field!r} holds a lone surrogate ({text[exc.start]!a} at character "
                         f"{exc.start + 1}): not valid Unicode") from None


def usable_id(value: Any) -> bool:
    """Text and numbers name a row (as str); anything else (null, NaN, lists, objects) leaves the content hash."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def unique_id(sid: str, chash: str, taken: set[str]) -> str:
    candidates = itertools.chain((f"{sid}~{chash[:8]}", f"{sid}~{chash}"), (f"{sid}~{k}" for k in itertools.count(1)))
    return next(s for s in candidates if s not in taken)
