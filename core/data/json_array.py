"""JSON records: one value parsed so that nothing in it can raise past the row, and a JSON array read element by
element (the stdlib decoder on each element; a small bracket scanner only to step over an element it rejects)."""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Callable, Iterator

CHUNK_CHARS = 1 << 20
_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n]*")
_BRACKET_OR_QUOTE = re.compile(r'["\[\]{}]')
_STRING_TAIL = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # the rest of a string after its opening quote
_SCALAR = re.compile(r'[^,\[\]{}"]*')


@dataclasses.dataclass(frozen=True)
class BadRecord:
    """A record that cannot be read (malformed, undecodable, too big): reported with its line, never raised."""

    reason: str


def parse_json(text: str) -> Any:
    """The value, or a BadRecord: malformed JSON, nesting past the interpreter's limit, or an absurd number."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return BadRecord(f"malformed JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        return BadRecord("nested too deeply (JSON nesting beyond the parser's limit)")
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        return BadRecord(f"malformed JSON: {exc}")


def _undecodable(raw: str) -> BadRecord | None:
    """Undecodable bytes arrive as surrogateescape characters (U+DC80..U+DCFF) in the raw text."""
    if raw.isascii():
        return None
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        return BadRecord(f"not valid UTF-8 (byte 0x{ord(raw[exc.start]) - 0xDC00:02X}); save the file as UTF-8")
    return None


def skip_value(text: str, pos: int) -> int | None:
    """Where the JSON-ish value starting at pos ends (brackets and strings matched, nothing validated), or None if
    it runs past the end of text. Used only to step over an element the decoder rejected."""
    if text[pos] not in '[{"':
        end = _SCALAR.match(text, pos).end()
        return end if end < len(text) else None
    depth, i = 0, pos
    while True:
        m = _BRACKET_OR_QUOTE.search(text, i)
        if m is None:
            return None
        i = m.end()
        if m.group() == '"':
            tail = _STRING_TAIL.match(text, i)
            if tail is None:
                return None
            i = tail.end()
            if depth == 0:
                return i
        elif m.group() in "[{":
            depth += 1
        else:
            depth -= 1
            if depth <= 0:
                return i


class _Buffer:
    """A window on the text: what is not parsed yet, and the line number at the read position."""

    def __init__(self, read: Callable[[int], str]):
        self._read = read
        self.text = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self._read(CHUNK_CHARS)
        if not chunk:
            self.eof = True
            return False
        self.text = self.text[self.pos:] + chunk  # drop what is parsed: the window stays about one element wide
        self.pos = 0
        return True

    def advance(self, end: int) -> None:
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end

    def skip_ws(self) -> str | None:
        """The next non-whitespace character (not consumed), or None at the end of the input."""
        while True:
            self.advance(_WS.match(self.text, self.pos).end())
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return None


def _element(buf: _Buffer, max_chars: int) -> tuple[Any, int | None]:
    """(value or BadRecord, end); end None: the element cannot be delimited and the array cannot go on."""
    while True:
        error = None
        try:
            value, end = _DECODER.raw_decode(buf.text, buf.pos)
            if end < len(buf.text) or buf.eof:  # a number at the window's edge may go on in the next chunk
                return _undecodable(buf.text[buf.pos:end]) or value, end
        except json.JSONDecodeError as exc:
            error = f"malformed JSON: {exc.msg}"
        except RecursionError:
            error = "nested too deeply (JSON nesting beyond the parser's limit)"
        except ValueError as exc:
            error = f"malformed JSON: {exc}"
        if error:
            end = skip_value(buf.text, buf.pos)
            if end is not None:
                return BadRecord(error), end
            if buf.eof:
                return BadRecord(error), None
        if len(buf.text) - buf.pos > max_chars:
            return BadRecord(f"array element longer than {max_chars:,} characters"), None
        if not buf.more():
            continue  # at the end now: decide with what there is


def array_records(read: Callable[[int], str], *, max_chars: int, name: str) -> Iterator[tuple[int, Any]]:
    """Each element of a top-level JSON array, with the line where it starts."""
    buf = _Buffer(read)
    buf.skip_ws()
    buf.advance(buf.pos + 1)  # the '[' the caller saw
    first = True
    while True:
        c = buf.skip_ws()
        if c is None:
            yield buf.line, BadRecord(f"the JSON array is not closed: {name} ends early (truncated?)")
            return
        if c == "]":
            buf.advance(buf.pos + 1)
            if buf.skip_ws() is not None:
                yield buf.line, BadRecord("extra data after the JSON array: ignored")
            return
        if not first:
            if c != ",":
                yield buf.line, BadRecord("expected ',' between array elements: the rest of the array is skipped")
                return
            buf.advance(buf.pos + 1)
            c = buf.skip_ws()
            if c == "]" or c is None:
                continue  # a trailing comma: forgiven
        first = False
        line = buf.line
        value, end = _element(buf, max_chars)
        if end is None:  # only a BadRecord comes without an end
            yield line, BadRecord(f"{value.reason}; the rest of the array cannot be delimited and is skipped")
            return
        yield line, value
        buf.advance(end)
