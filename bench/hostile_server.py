"""Hostile cases for the embedded generator's llama.cpp server (issue 17), for bench/faults.py's `hostile` step.

    python bench/hostile_server.py [--json]

- killed parents: a process starts the real server (core/synthesis/local_server.py), then gets kill -9, SIGTERM,
  or exits normally; the server must be gone within 15 s (it used to stay, re-parented to PID 1, still answering).
- a server that cannot run: a stand-in that keeps the launcher's contract and dies by SIGILL at start or on its first
  request (tests/synthesis/fake_llama_server.py); the generator must answer every request through the transformers
  fallback, with the reason (SIGILL) in its notice.
- someone else's server: a stand-in that answers the ownership proof wrongly must be refused before any request.

Each case: {"case", "kind", "ok", "leaked" (server processes left behind), "lost" (requests left unanswered),
"detail"}.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FAKE = ROOT / "tests" / "synthesis" / "fake_llama_server.py"
from tests.helpers import wait_gone  # noqa: E402  (the tests' own check that a process is gone)

PARENT = """
import json, sys, time
sys.path.insert(0, {root!r})
from core.synthesis.local_server import LlamaServer
server = LlamaServer({gguf!r}).start()
print(json.dumps({{"server": server.proc.pid}}), flush=True)
if {exit_normally!r}:
    sys.exit(0)
time.sleep(600)
"""


def killed_parent(how: str, gguf: Path, workdir: Path) -> dict:
    script = workdir / f"parent-{how}.py"
    script.write_text(PARENT.format(root=str(ROOT), gguf=str(gguf), exit_normally=how == "normal exit"))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pid = json.loads(parent.stdout.readline())["server"]
        if how != "normal exit":
            parent.send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGTERM)
        parent.wait(timeout=60)
        left = not wait_gone(pid)
        if left:
            os.kill(pid, signal.SIGKILL)
        return {"case": f"parent {how}", "kind": "killed-parent", "ok": not left, "leaked": int(left), "lost": 0,
                "detail": "server left running" if left else "server gone with its parent"}
    finally:
        parent.kill()


def cannot_run(mode: str, store) -> dict:
    from core.synthesis.generators import Request
    from core.synthesis.local_server import LocalGenerator

    gen = LocalGenerator(store, server_command=[sys.executable, str(FAKE), "--mode", mode])
    requests = [Request((("user", f"Name a prime number above {i}."),), 0.7, 0.95, 6, i) for i in range(3)]
    out = gen.generate(requests)
    lost = sum(r.text is None for r in out)
    said = bool(gen.notices) and "SIGILL" in gen.notices[0]
    return {"case": f"server dies by SIGILL ({mode})", "kind": "server-cannot-run", "ok": not lost and said,
            "leaked": int(gen.server is not None), "lost": lost, "detail": (gen.notices or ["no notice"])[0][:200]}


def foreign_server(gguf: Path) -> dict:
    from core.synthesis.local_server import LlamaServer, ServerFailed

    server = LlamaServer(gguf, command=[sys.executable, str(FAKE), "--mode", "wrong-proof"])
    try:
        server.start()
        refused, detail = False, "used a server that failed the proof"
    except ServerFailed as exc:
        refused, detail = True, str(exc)
    return {"case": "someone else's server", "kind": "server-proof", "ok": refused,
            "leaked": int(server.proc is not None), "lost": 0, "detail": detail[:200]}


def run_cases(workdir: Path) -> list[dict]:
    from core.data.store import Store
    from core.features.models import EMBEDDED_MODELS, _package_file

    gguf = _package_file(*EMBEDDED_MODELS["embedded:smollm2-135m-instruct"])
    cases = [killed_parent(how, gguf, workdir) for how in ("kill -9", "SIGTERM", "normal exit")]
    os.environ["PRISM_HOME"] = str(workdir / "ws")
    with Store() as store:
        cases += [cannot_run(mode, store) for mode in ("sigill-at-start", "sigill-on-request")]
    cases.append(foreign_server(gguf))
    return cases


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="prism-hostile-server-") as tmp:
        cases = run_cases(Path(tmp))
    summary = {"bench": "hostile_server", "cases": len(cases), "ok": sum(c["ok"] for c in cases),
               "leaked": sum(c["leaked"] for c in cases), "lost": sum(c["lost"] for c in cases), "results": cases}
    if args.json:
        print(json.dumps(summary))
        return
    for c in cases:
        print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['case']:<40} leaked {c['leaked']} lost {c['lost']}  {c['detail']}")
    print(f"{summary['ok']}/{summary['cases']} ok, leaked {summary['leaked']}, lost {summary['lost']}")


if __name__ == "__main__":
    main()
