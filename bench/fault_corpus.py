"""A corpus of bad and odd input files, and a runner that feeds each one to the real CLI.

    python bench/fault_corpus.py [--json] [--keep DIR] [--jobs 2]

`build_corpus(folder) -> list[Case]` writes the files; each Case says what a correct ingest does: keep exactly N good
rows (exit 0), or refuse the file with one clear error (exit 2). `run_corpus(cases) -> dict` runs
`python -m core ingest FILE --json` for each case in a fresh workspace and counts a case as handled when it exits 0
with exactly the expected rows, or exits 2 with one `error: ...` line and no traceback. bench/faults.py builds on
these two functions: keep their signatures.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import gzip
import json
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import run_cli  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Expect:
    outcome: str  # "ok": exit 0 keeping `rows` good rows; "error": exit 2 with one clear error line
    rows: int = 0

    def __str__(self) -> str:
        return f"ok ({self.rows} rows)" if self.outcome == "ok" else "error"


def ok(rows: int) -> Expect:
    return Expect("ok", rows)


ERROR = Expect("error")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    path: Path
    expect: Expect


def row(i: int, **extra) -> dict:
    return {"prompt": f"What is {i} times {i + 1}?", "response": f"It is {i * (i + 1)}.", **extra}


def jl(*rows) -> bytes:
    """JSON lines from dicts (dumped) or strings (as they are)."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode("utf-8")


def good_lines(n: int, start: int = 0) -> list[dict]:
    return [row(i) for i in range(start, start + n)]


def parquet(table_fn: Callable) -> Callable[[Path], bytes]:
    def build(path: Path) -> bytes:
        import pyarrow.parquet as pq

        pq.write_table(table_fn(), path)
        return path.read_bytes()
    return build


def _pa():
    import pyarrow as pa

    return pa


CSV_OK = b"prompt,response\nWhat is 1+1?,2\nWhat is 2+2?,4\nWhat is 3+3?,6\n"
DEEP = "[" * 5000 + "]" * 5000
CAFE_NFC, CAFE_NFD = unicodedata.normalize("NFC", "caf\u00e9"), unicodedata.normalize("NFD", "caf\u00e9")

# name -> (content: bytes, or a function of the target path that writes/returns bytes, or None for special cases; expect)
SPECS: dict[str, tuple[object, Expect]] = {
    # the ingest-hardening brief, item by item
    "lone_surrogate.jsonl": (jl(row(1), '{"prompt": "bad \\ud800", "response": "x"}', row(2)), ok(2)),
    "surrogate_in_meta.jsonl": (jl(row(1), '{"prompt": "p", "response": "r", "tag": "\\udfff"}'), ok(1)),
    "csv_field_200k_chars.csv": (b'prompt,response\n"' + b"long " * 40_000 + b'",yes\nshort,no\n', ok(2)),
    "nested_5000_deep.jsonl": (jl(row(1), f'{{"prompt": {DEEP}, "response": "x"}}', row(2)), ok(2)),
    "folder.jsonl": (None, ERROR),
    "bom.jsonl": (b"\xef\xbb\xbf" + jl(*good_lines(3)), ok(3)),
    "bom.csv": (b"\xef\xbb\xbf" + CSV_OK, ok(3)),
    "bom_array.json": (b"\xef\xbb\xbf" + json.dumps(good_lines(3)).encode(), ok(3)),
    "array_pretty.json": (json.dumps(good_lines(4) + [5, {"prompt": "only"}], indent=2).encode(), ok(4)),
    "jsonl_named.json": (jl(*good_lines(3)), ok(3)),
    "csv_unterminated_quote.csv": (b'prompt,response\na,1\n"never closed,2\nc,3\nd,"4"\ne,5\n', ok(4)),
    "csv_bad_byte_continuation.csv": (b'prompt,response\n"line one\nline tw\xff",1\nb,2\n', ok(1)),
    "gzip_named.jsonl": (gzip.compress(jl(*good_lines(3))), ERROR),
    "good.jsonl.gz": (gzip.compress(jl(*good_lines(5))), ok(5)),
    "good.csv.gz": (gzip.compress(CSV_OK), ok(3)),
    "good.json.gz": (gzip.compress(json.dumps(good_lines(2)).encode()), ok(2)),
    # empty and nearly empty
    "empty.jsonl": (b"", ERROR),
    "whitespace_only.jsonl": (b"   \n\t\n\r\n  ", ERROR),
    "header_only.csv": (b"prompt,response\n", ERROR),
    "blank_lines_between.jsonl": (b"\n\n" + b"\n\n\n".join(jl(r) for r in good_lines(3)) + b"\n\n", ok(3)),
    # bytes that are not what they should be
    "nul_bytes.jsonl": (jl(row(1), '{"prompt": "a\\u0000b", "response": "c"}') + b"\x00" * 64 + b"\n"
                        + jl(row(2)), ok(3)),
    "zeros.jsonl.gz": (gzip.compress(b"\x00" * (50 << 20)), ERROR),  # 50 MB of NULs in ~50 KB
    "binary_junk.jsonl": (bytes(range(256)) * 200, ERROR),
    "png_named.csv": (b"\x89PNG\r\n\x1a\n" + bytes(2000), ERROR),
    "utf16.jsonl": (jl(*good_lines(2)).decode().encode("utf-16"), ERROR),
    "windows1252.csv": ("prompt,response\ncaf\u00e9 cr\u00e8me,ok\nplain,ok\n\u201cquoted\u201d,ok\n".encode("cp1252"),
                        ok(1)),
    "mixed_encodings.jsonl": (jl(row(1)) + '{"prompt": "na\u00efve", "response": "x"}\n'.encode("latin-1")
                              + jl(row(2), {"prompt": "na\u00efve", "response": "y"}), ok(3)),
    "unicode_normalisation.jsonl": (jl({"prompt": CAFE_NFC, "response": "a"}, {"prompt": CAFE_NFD, "response": "a"}),
                                    ok(2)),  # different code points: distinct rows, kept as written
    "crlf.jsonl": (jl(*good_lines(3)).replace(b"\n", b"\r\n"), ok(3)),
    "crlf.csv": (CSV_OK.replace(b"\n", b"\r\n"), ok(3)),
    "cr_only.csv": (CSV_OK.replace(b"\n", b"\r"), ok(3)),
    # wrong names
    "wrong_extension.txt": (jl(*good_lines(2)), ERROR),
    "no_extension": (jl(*good_lines(2)), ERROR),
    "upper_case.JSONL": (jl(*good_lines(2)), ok(2)),
    "parquet_named.jsonl": (parquet(lambda: _pa().table({"prompt": ["a"], "response": ["b"]})), ERROR),
    "jsonl_named.parquet": (jl(*good_lines(2)), ERROR),
    "plain_named.jsonl.gz": (jl(*good_lines(2)), ERROR),
    "xlsx_named.csv": (b"PK\x03\x04" + bytes(500), ERROR),
    "symlink_loop.jsonl": (None, ERROR),
    # broken or truncated
    "truncated.jsonl.gz": (gzip.compress(jl(*good_lines(4000)))[:-700], ERROR),
    "half_written_last_line.jsonl": (jl(*good_lines(5))[:-15], ok(4)),
    "zero_bytes.parquet": (b"", ERROR),
    "corrupt.parquet": (b"PAR1" + bytes(range(256)) * 8 + b"PAR1", ERROR),
    "truncated.parquet": (lambda p: parquet(lambda: _pa().table({"prompt": ["q"] * 500, "response": ["a"] * 500}))(p)
                          [:-40], ERROR),
    "unclosed_array.json": (b'[{"prompt": "a", "response": "b"},\n {"prompt": "c", "response": "d"},\n {"prom', ok(2)),
    "trailing_comma_array.json": (b'[{"prompt": "a", "response": "b"},]', ok(1)),
    "all_rows_bad.jsonl": (jl({"text": "no shape"}, "not json", "[1]"), ERROR),
    "pretty_single_object.json": (json.dumps(row(1), indent=2).encode(), ERROR),  # neither an array nor JSON lines
    # sizes
    "huge_single_line.jsonl": (jl({"prompt": "x" * (5 << 20), "response": "y"}, row(2)), ok(2)),
    "line_over_16MiB.jsonl": (jl({"prompt": "x" * (17 << 20), "response": "y"}, row(2), row(3)), ok(2)),
    "ten_thousand_columns.csv": ((",".join(["prompt", "response"] + [f"c{i}" for i in range(10_000)]) + "\n"
                                  + ",".join(["p", "r"] + ["1"] * 10_000) + "\n").encode(), ok(1)),
    "ten_thousand_keys.jsonl": (jl(row(1, **{f"k{i}": i for i in range(10_000)}), row(2)), ok(2)),
    # values
    "nan_infinity.jsonl": (jl('{"prompt": "a", "response": "b", "score": NaN}',
                              '{"prompt": "c", "response": "d", "w": [Infinity, -Infinity]}'), ok(2)),
    "numbers_as_text.jsonl": (jl({"prompt": 12, "response": 144}, {"prompt": 1.5, "response": 3}), ok(2)),
    "booleans_and_nulls.jsonl": (jl({"prompt": True, "response": "x"}, {"prompt": None, "response": "y"}, row(1)),
                                 ok(1)),
    "huge_integer.jsonl": (jl('{"prompt": "a", "response": "b", "n": ' + "7" * 5000 + "}", row(1)), ok(1)),
    "mixed_types_in_column.jsonl": (jl({"prompt": "a", "response": "b", "tag": 1}, {"prompt": "c", "response": "d",
                                       "tag": "one"}, {"prompt": "e", "response": "f", "tag": [1]}), ok(3)),
    "missing_columns_some_rows.jsonl": (jl(row(1), {"prompt": "only"}, {"response": "only"}, row(2)), ok(2)),
    "non_dict_rows.jsonl": (jl("[1, 2]", '"text"', "42", "null", row(1)), ok(1)),
    "duplicate_keys.jsonl": (jl('{"prompt": "a", "prompt": "b", "response": "c"}'), ok(1)),
    "duplicate_column_names.csv": (b"prompt,response,note,note\na,b,c,d\n", ok(1)),
    "short_and_long_csv_rows.csv": (b"prompt,response,extra\na,b,c\nd\ne,f\ng,h,i,j\n", ok(2)),
    "tab_separated.tsv": (b"prompt\tresponse\na\tb\nc\td\n", ok(2)),
    "semicolon_separated.csv": (b"prompt;response\na;b\n", ok(1)),
    "capitalised_header.csv": (b"Question , ANSWER\nq,a\n", ok(1)),
    "whitespace_prompts.jsonl": (jl({"prompt": "   ", "response": "x"}, {"prompt": "\t\n", "response": "y"}), ERROR),
    "control_and_bidi_chars.jsonl": (jl({"prompt": "\x1b[31mred\x1b[0m \u202etxet\u202c", "response": "ok"}), ok(1)),
    "exact_duplicates.jsonl": (jl(row(1), row(1), row(2), row(1)), ok(2)),
    "colliding_ids.jsonl": (jl(row(1, id="x"), row(2, id="x"), row(3, id="x")), ok(3)),
    "messages_without_assistant.jsonl": (jl({"messages": [{"role": "user", "content": "hi"}]},
                                            {"messages": [{"role": "user", "content": "hi"},
                                                          {"role": "assistant", "content": "hello"}]}), ok(1)),
    "parquet_binary_and_int_columns.parquet": (parquet(lambda: _pa().table({
        "prompt": _pa().array([b"bytes prompt", b"\xff\xfe"], _pa().binary()), "response": [1, 2]})), ok(1)),
    "parquet_nested_messages.parquet": (parquet(lambda: _pa().table({"messages": [
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]]})), ok(1)),
}


def build_corpus(folder: str | Path) -> list[Case]:
    """Write every bad or odd file into folder; returns the cases in a stable order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, (content, expect) in SPECS.items():
        path = folder / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        if name == "folder.jsonl":
            path.mkdir(exist_ok=True)
        elif name == "symlink_loop.jsonl":
            path.symlink_to(path.name)
        else:
            data = content(path) if callable(content) else content
            path.write_bytes(data)
        cases.append(Case(name, path, expect))
    return cases


def run_case(case: Case, *, timeout: float = 180) -> dict:
    """Ingest one case through the real CLI in a fresh workspace; says whether it was handled."""
    with tempfile.TemporaryDirectory(prefix="fault-ws-") as ws:
        try:
            res = run_cli(Path(ws), "ingest", case.path, "--json", timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"name": case.name, "handled": False, "expect": str(case.expect), "got": f"timeout {timeout}s"}
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    if "Traceback" in res.stderr:
        got = "traceback: " + res.stderr.strip().splitlines()[-1][:300]
    elif res.returncode == 0:
        try:
            got = f"ok ({json.loads(res.stdout.strip().splitlines()[-1])['n']} rows)"
        except (ValueError, IndexError, KeyError):
            got = f"exit 0 without a JSON report: {res.stdout[-200:]!r}"
    elif res.returncode == 2 and len(errors) == 1 and not res.stdout:
        got = "error"
    else:
        got = f"exit {res.returncode}: {(errors or res.stderr.strip().splitlines() or [''])[-1][:300]}"
    out = {"name": case.name, "handled": got == str(case.expect), "expect": str(case.expect), "got": got}
    if got == "error":
        out["message"] = errors[0][len("error: "):][:300]
    return out


def run_corpus(cases: list[Case], *, jobs: int = 2, timeout: float = 180) -> dict:
    """{"bad_files": N, "handled": N, "failures": [{name, expect, got}], "results": [...]} over all cases."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda c: run_case(c, timeout=timeout), cases))
    failures = [{k: r[k] for k in ("name", "expect", "got")} for r in results if not r["handled"]]
    return {"bad_files": len(cases), "handled": sum(r["handled"] for r in results), "failures": failures,
            "results": results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON line: bad_files, handled, failures")
    ap.add_argument("--keep", help="folder for the corpus (default: a temporary one)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fault-corpus-") as tmp:
        cases = build_corpus(args.keep or tmp)
        summary = run_corpus(cases, jobs=args.jobs)
    if args.json:
        print(json.dumps({k: summary[k] for k in ("bad_files", "handled", "failures")}))
        return
    for r in summary["results"]:
        mark = "ok  " if r["handled"] else "FAIL"
        print(f"{mark} {r['name']:<40} expect {r['expect']:<14} got {r['got']}"
              + (f"  [{r['message']}]" if r.get("message") else ""))
    print(f"{summary['handled']}/{summary['bad_files']} handled")


if __name__ == "__main__":
    main()
