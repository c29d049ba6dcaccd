"""The llama.cpp server process (run by local_server.LlamaServer as a script, never imported by the product).

Its contract with the parent, so that nothing outlives the run and nobody else's server is used:
- stdin: the first line is a JSON object {"token": ...}; the parent then holds the pipe open and writes nothing more.
  When the pipe closes (the parent exited, was killed with SIGKILL or SIGTERM, or stopped the server) this process
  exits at once: a watcher thread blocks on the read and calls os._exit on end of file.
- it binds 127.0.0.1:0 itself (no port picked by the parent and bound later by someone else), loads the model, then
  prints one JSON line {"port": N} on stdout and serves on that socket.
- GET /prism/hello?challenge=C answers {"mac": HMAC-SHA256(token, C)}: the parent proves the answering server holds
  its token before sending anything. The OpenAI routes take the token as their API key, so other local processes
  cannot use this server either.
- stderr carries llama.cpp's own messages; the parent keeps the last lines to say why the server died.

Standalone on purpose: it imports only the standard library, llama_cpp and uvicorn, so it starts fast and a crash in
llama.cpp's native code (SIGILL on a CPU that refuses an instruction) kills this process, never the parent.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import socket
import sys
import threading


def _watch_parent() -> None:
    """Exit as soon as the parent's end of stdin closes."""
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--n-ctx", type=int, default=2048)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    token = json.loads(sys.stdin.buffer.readline() or b"{}").get("token")
    if not token:
        print("no token on stdin: this script is started by core.synthesis.local_server", file=sys.stderr)
        sys.exit(2)
    threading.Thread(target=_watch_parent, name="parent-watch", daemon=True).start()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    app = create_app(
        server_settings=ServerSettings(host="127.0.0.1", port=port, api_key=token),
        model_settings=[ModelSettings(model=args.model, n_ctx=args.n_ctx, n_threads=args.threads,
                                      n_threads_batch=args.threads, verbose=False)])

    @app.get("/prism/hello")
    def hello(challenge: str) -> dict:
        return {"mac": hmac.new(token.encode(), challenge.encode(), hashlib.sha256).hexdigest(), "pid": os.getpid()}

    print(json.dumps({"port": port}), flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


if __name__ == "__main__":
    main()
