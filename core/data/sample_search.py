"""Text search over a dataset's prompts and responses: one DuckDB scan; a regular expression is run by RE2 (linear
time, never Python's backtracking `re`), a substring ignoring case."""
from __future__ import annotations

from core.data.samples import in_view

TEXT_FIELDS = ("prompt", "response")  # the columns text search looks in


class SampleSearch:
    """Mixin of Store: text search of the samples table (self.query comes from Store)."""

    def regex_error(self, pattern: str) -> str | None:
        """None when DuckDB (RE2) compiles the regular expression, else the first line of its error."""
        try:
            self.query("SELECT regexp_matches('', ?)", [pattern])
        except Exception as exc:
            return str(exc).splitlines()[0]
        return None

    def text_matches(self, name: str, pattern: str, *, regex: bool, fields: tuple[str, ...] = TEXT_FIELDS,
                     limit: int = 10_000, view: str = "kept") -> list[tuple[str, str, int | None]]:
        """(id, the first field that matched, the match's character offset in it) of the view's rows whose fields
        hold the pattern, in dataset order (at most `limit`): one scan, all in DuckDB. A substring matches ignoring
        case (offset: strpos); a regular expression is RE2's (never Python's backtracking `re`), located by the
        length of the shortest prefix after which it matches (`^(?s:(.*?))(?:pattern)`, group 1), which is where
        RE2's leftmost match starts. The offset is None where DuckDB could not locate the match."""
        if any(f not in TEXT_FIELDS for f in fields):
            raise ValueError(f"fields must be among {TEXT_FIELDS}")
        if regex:
            match = {f: f"regexp_matches({f}, ?)" for f in fields}
            locate = {f: f"length(regexp_extract({f}, ?, 1))" for f in fields}
            located = "^(?s:(.*?))(?:" + pattern + ")"
        else:
            match = {f: f"contains(lower({f}), lower(?))" for f in fields}
            locate = {f: f"strpos(lower({f}), lower(?)) - 1" for f in fields}
            located = pattern
        cond = " OR ".join(match[f] for f in fields)
        first = " ".join(f"WHEN {match[f]} THEN '{f}'" for f in fields)
        start = " ".join(f"WHEN {match[f]} THEN {locate[f]}" for f in fields)
        return self.query(f"SELECT sample_id, CASE {first} END, CASE {start} END FROM samples s WHERE dataset = ? AND "
                          f"({cond}) AND {in_view(view)} ORDER BY ordinal LIMIT ?",
                          [*[pattern for _ in fields], *[v for _ in fields for v in (pattern, located)], name,
                           *[pattern for _ in fields], limit])
