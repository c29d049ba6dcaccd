"""A stand-in for core/synthesis/llama_launch.py that keeps its contract (token on stdin, its own port on stdout, the
HMAC proof, exit when stdin closes) and then fails the way a non-portable llama.cpp build fails: killed by SIGILL at
start or on its first chat request. `--mode wrong-proof` answers the proof wrongly (someone else's server).

Used only to inject those faults into tests; every other test talks to the real llama.cpp server."""
import argparse
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=("sigill-at-start", "sigill-on-request", "wrong-proof"), required=True)
    p.add_argument("--model")
    p.add_argument("--n-ctx")
    p.add_argument("--threads")
    args = p.parse_args()
    token = json.loads(sys.stdin.buffer.readline())["token"]

    def watch():
        while sys.stdin.buffer.read(65536):
            pass
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    print("ggml: loading model (fake)", file=sys.stderr, flush=True)
    if args.mode == "sigill-at-start":
        print("llama_model_load: tileloadd (fake)", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGILL)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _json(self, obj, status=200):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/prism/hello":
                challenge = parse_qs(url.query)["challenge"][0]
                key = token if args.mode != "wrong-proof" else "not-the-token"
                return self._json({"mac": hmac.new(key.encode(), challenge.encode(), hashlib.sha256).hexdigest()})
            return self._json({"data": [{"id": "local"}]})

        def do_POST(self):
            print("ggml_compute_forward: AMX tile load (fake)", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGILL)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
