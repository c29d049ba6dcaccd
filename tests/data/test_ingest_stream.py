"""Streaming ingest: batches in one transaction (whole or absent), progress, duplicates across batches, capped
reports, and a 200k-row file through the real CLI in bounded memory."""
import json
import os
import subprocess
import sys
import threading

import pytest

from core.data.datasets import file_sha256, ingest
from tests.conftest import DATA, cli_env

RSS_BOUND_MB = 600  # 200k rows (95 MB of JSONL): measured ~430 MB here; the old read-it-all path took ~760 MB


def gsm8k_like(path, n: int, *, bad_every: int = 0, dup_every: int = 0) -> None:
    """n rows recombined from the fixtures (question i with answer j): realistic text, every row distinct."""
    base = [json.loads(line) for line in (DATA / "mixture_24.jsonl").read_text().splitlines()]
    with open(path, "w", encoding="utf-8") as fh:
        for k in range(n):
            if bad_every and k % bad_every == bad_every - 1:
                fh.write('{"question": "broken\n')
                continue
            j = k - 1 if dup_every and k % dup_every == dup_every - 1 else k
            q, a = base[j % len(base)], base[(j // len(base)) % len(base)]
            fh.write(json.dumps({"question": f"{q['question']} (variant {j})", "answer": a["answer"],
                                 "source": q["source"]}) + "\n")


def test_progress_duplicates_across_batches_and_capped_lists(tmp_path, store):
    f = tmp_path / "d.jsonl"
    gsm8k_like(f, 3000, bad_every=7, dup_every=5)  # 428 bad rows, and duplicates spread over every batch
    calls = []
    name, summary = ingest(store, f, name="d", batch_rows=100, progress=lambda *a: calls.append(a))
    n_bad = 3000 // 7
    n_dup = sum(1 for k in range(3000) if k % 5 == 4 and k % 7 != 6 and (k - 1) % 7 != 6)
    assert summary["rejected_rows"] == n_bad and len(summary["bad_rows"]) == 200
    assert summary["duplicates"] == n_dup and len(summary["duplicate_rows"]) == 200
    assert summary["n"] == 3000 - n_bad - n_dup == store.query("SELECT count(*) FROM samples")[0][0]
    assert summary["file_sha256"] == file_sha256(f)
    total = f.stat().st_size
    assert calls[0] == (0, 0, total) and calls[-1] == (summary["n"], total, total)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls) and len(calls) > 10
    ordinals = store.query("SELECT min(ordinal), max(ordinal), count(DISTINCT ordinal) FROM samples")[0]
    assert ordinals == (0, summary["n"] - 1, summary["n"])


def test_a_failure_mid_ingest_leaves_the_dataset_whole_or_absent(tmp_path, store):
    f = tmp_path / "d.jsonl"
    gsm8k_like(f, 500)

    def boom(rows, done, total):
        if rows >= 200:
            raise RuntimeError("killed mid-way")

    with pytest.raises(RuntimeError):
        ingest(store, f, name="d", batch_rows=100, progress=boom)
    assert not store.has_dataset("d") and store.query("SELECT count(*) FROM samples")[0][0] == 0

    ingest(store, DATA / "gsm8k_8.jsonl", name="d")  # an old dataset that a failed replace must not touch
    with pytest.raises(RuntimeError):
        ingest(store, f, name="d", batch_rows=100, progress=boom, replace=True)
    assert store.dataset_info("d")["n"] == 8 and len(store.samples("d")) == 8


def test_unchanged_file_is_reused_and_a_changed_one_refused(tmp_path, store):
    f = tmp_path / "d.jsonl"
    gsm8k_like(f, 50)
    _, first = ingest(store, f)
    calls = []
    _, again = ingest(store, f, progress=lambda *a: calls.append(a))
    assert again == first and calls == []  # reused: not read again
    gsm8k_like(f, 60)
    with pytest.raises(ValueError, match="exists already"):
        ingest(store, f)


LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_of(cmd: list[str], env: dict, *, timeout: float, stdout, stderr, scratch) -> tuple[int, float]:
    """Exit code and peak RSS (MB) of one child process, as wait4 reports it (Linux: KiB).

    Linux carries a process's peak RSS across fork and exec, so a child of a large pytest process would report
    pytest's own size: a small launcher process starts the command and reports its grandchild's peak instead."""
    report = scratch / "maxrss"
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(report), *cmd], env=env, stdout=stdout,
                            stderr=stderr)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return rc, int(report.read_text()) / 1024


def test_200k_rows_stream_through_the_cli_in_bounded_memory(tmp_path, workspace):
    f = tmp_path / "big.jsonl"
    gsm8k_like(f, 200_000)
    out, err = tmp_path / "out.json", tmp_path / "err.txt"
    with open(out, "w") as o, open(err, "w") as e:
        rc, peak_mb = peak_rss_of([sys.executable, "-m", "core", "ingest", str(f), "--name", "big", "--json"],
                                  cli_env(workspace), timeout=300, stdout=o, stderr=e, scratch=tmp_path)
    stderr = err.read_text()
    assert rc == 0, stderr[-2000:]
    assert json.loads(out.read_text())["n"] == 200_000
    assert sum(line.startswith("progress ingest") for line in stderr.splitlines()) >= 10  # one per batch
    assert peak_mb < RSS_BOUND_MB, f"peak RSS {peak_mb:.0f} MB"
    from core.data.store import Store

    with Store() as store:
        assert store.query("SELECT count(*) FROM samples WHERE dataset = 'big'")[0][0] == 200_000
