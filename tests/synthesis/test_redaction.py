"""Keys echoed in a SUCCESSFUL reply (issue 17, hole 3): the success text of every reply is redacted before its Result
is made, so the request cache, the candidates, the run summary, the rounds' errors and the CLI's output never hold the
key; math text that merely looks like a key assignment ("token = 5") is left alone. Each test failed before the fix."""
import json

import duckdb

from core.synthesis.generators import Request
from core.synthesis.openai_backend import OpenAIGenerator
from tests.helpers import DATA, run_cli
from tests.openai_stub import Stub

SECRET = "sk-echo-SECRET-77a1b2c3d4e5f6"
PROBLEMS = ("Write 2 new problems.\n\nExample 1: A farmer has 3 apples and buys 4 more. How many now?\n\n"
            "Write the new problems.")


def text_cells(db_path) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text-like cell (VARCHAR, JSON, BLOB cast to text) of every table."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        out = []
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            columns = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                                  "table_name = ?", [table]).fetchall()
            for column, kind in columns:
                if not any(t in kind.upper() for t in ("VARCHAR", "JSON", "BLOB", "[]", "STRUCT", "MAP")):
                    continue
                cast = f'CAST("{column}" AS VARCHAR)'
                for (value,) in con.execute(f'SELECT {cast} FROM "{table}" WHERE "{column}" IS NOT NULL').fetchall():
                    out.append((table, column, value))
        return out
    finally:
        con.close()


def test_a_key_echoed_in_good_replies_never_reaches_a_result_or_the_cache(store):
    with Stub(api_key=SECRET, echo_key=True) as stub:
        gen = OpenAIGenerator(store, base_url=stub.url, model="m", api_key=SECRET, max_retries=0)
        results = gen.generate([Request((("user", PROBLEMS),)), Request((("user", "What is 2 + 3?"),))])
        reply = gen.test_connection()
    assert stub.state.auth_headers[0] == f"Bearer {SECRET}"  # the stub did get (and echo) the key
    assert all(r.text and not r.error for r in results)
    for text in [r.text for r in results] + [reply]:
        assert SECRET not in text and "[redacted]" in text
    assert "Problem 1:" in results[0].text and "\\boxed{5}" in results[1].text  # the reply itself is intact
    assert not [c for c in store.query("SELECT text FROM llm_cache") if SECRET in str(c)]


def test_reply_redaction_masks_keys_but_leaves_math_alone():
    from core.synthesis.credentials import redact_reply

    math = ("Let token = 5 and key: 7. The authorization: 12 apples. Bearer bonds pay 3%. The bearer of 20 coins "
            "gives sk-8. Adding step by step gives 12.")
    assert redact_reply(math) == math
    leaked = f"Authorization: Bearer abc123def456ghi and sk-proj-ABCDEF1234567890xyz and {SECRET[::-1]}"
    out = redact_reply(leaked, SECRET[::-1])
    for secret in ("abc123def456ghi", "sk-proj-ABCDEF1234567890xyz", SECRET[::-1]):
        assert secret not in out


def test_run_errors_and_summaries_are_stored_redacted(store, monkeypatch):
    """A run's error (and the round failure built from candidates) is redacted before it is stored or returned."""
    from core.synthesis.runs import close_run, round_failure

    monkeypatch.setenv("PRISM_API_KEY", SECRET)  # a key of this process, in any text
    store.query("INSERT INTO synth_runs (run_id, dataset, config, generator, status) VALUES "
                "('r1', 'mix', '{}', 'openai:m', 'running')")
    store.query("INSERT INTO synth_candidates (run_id, round, request_idx, problem_idx, raw_output, reason) VALUES "
                "('r1', 0, 0, 0, ?, 'generation error')", [f"HTTP 500: echo Authorization: Bearer {SECRET}"])
    failure = round_failure(store, "r1", 0)
    summary = close_run(store, "r1", "failed", f"upstream said key={SECRET} / Bearer zz9-{SECRET}")
    stored = store.query("SELECT summary FROM synth_runs WHERE run_id = 'r1'")[0][0]
    for text in (failure, summary["error"], stored, json.dumps(summary)):
        assert SECRET not in text and "[redacted]" in text


def test_cli_synthesize_against_an_echoing_endpoint_leaks_the_key_nowhere(workspace):
    res = run_cli(workspace, "ingest", DATA / "mixture_24.jsonl", "--name", "mix", timeout=300)
    assert res.returncode == 0, res.stderr
    with Stub(api_key=SECRET, echo_key=True) as stub:
        # the light feature config (tests/helpers.py): nothing here depends on the features
        res = run_cli(workspace, "synthesize", "mix", "--generator", "openai", "--base-url", stub.url, "--model", "stub",
                      "--requests-per-round", "2", "--request-batch", "2", "--problems-per-request", "2",
                      "--solutions-per-problem", "2", "--json", light=True,
                      env_extra={"PRISM_API_KEY": SECRET, "PRISM_API_BASE_URL": stub.url})
        assert res.returncode == 0, res.stderr[-3000:]
        assert stub.state.auth_headers and all(h == f"Bearer {SECRET}" for h in stub.state.auth_headers)
    out = json.loads(res.stdout)
    assert out["status"] == "done" and out["accepted"] + sum(out["rejected"].values()) >= 2
    cells = text_cells(workspace / "prism.duckdb")
    problems = [v for t, c, v in cells if (t, c) == ("synth_candidates", "problem")]
    assert problems and all("[redacted]" in p for p in problems)  # the echoed key was there, and masked
    assert [(t, c) for t, c, v in cells if SECRET in v] == []
    for path in workspace.rglob("*"):  # the database file, its WAL, artifacts
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in res.stdout + res.stderr
