"""A fault-injecting OpenAI-compatible chat endpoint on 127.0.0.1, for tests only.

Answers like a real server: problem requests get 'Problem N:' blocks derived from the first few-shot example (numbers
changed), solve requests get a worked answer with \\boxed{}. A script of faults is consumed first, one per request:
429 (with Retry-After), 500, timeout, truncated JSON, a non-JSON body, or an answer with no parsable problem.
With echo_key, every good (200) reply also repeats the request's Authorization header and its bare key inside the
problems and the answers (a debugging proxy, or a model told its own key), so a test can look for the key everywhere.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubState:
    def __init__(self, faults=(), api_key: str | None = None, delay: float = 0.0, timeout_sleep: float = 3.0,
                 echo_auth: bool = False, echo_key: bool = False):
        self.faults = list(faults)
        self.api_key = api_key
        self.echo_auth = echo_auth  # a 401 whose body repeats the Authorization header (seen behind some proxies)
        self.echo_key = echo_key  # 200 replies that carry the Authorization header and the bare key in their text
        self.auth_headers: list[str] = []
        self.inflight = self.max_inflight = 0  # requests being answered right now, and the most at once
        self.delay = delay
        self.timeout_sleep = timeout_sleep
        self.lock = threading.Lock()
        self.bodies: list[str] = []
        self.served: list[str] = []  # what each request got
        self.bad_auth = 0

    def next_fault(self) -> str:
        with self.lock:
            return self.faults.pop(0) if self.faults else "ok"


def _reply_text(prompt: str) -> str:
    digest = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
    if "new problems" in prompt:
        example = re.search(r"Example 1: (.*?)(?:\n\nExample 2:|\n\nWrite )", prompt, re.S)
        base = example.group(1).strip() if example else "A farmer has 3 apples and buys 4 more. How many now?"
        out = []
        for i in range(2):
            shifted = re.sub(r"\d+", lambda m: str(int(m.group()) + 2 + i + digest % 5), base)
            out.append(f"Problem {i + 1}: {shifted}")
        return "Sure! Here are new problems.\n\n" + "\n\n".join(out)
    numbers = [int(n) for n in re.findall(r"\d+", prompt)][:4]
    return f"Adding the quantities step by step gives {sum(numbers)}.\nThe answer is \\boxed{{{sum(numbers)}}}."


def _echo(text: str, auth: str) -> str:
    """The reply with the Authorization header and the bare key written into every problem and answer line."""
    key = auth.split(" ", 1)[-1]
    note = f" (request had Authorization: {auth}; key {key})"
    text = re.sub(r"(Problem \d+:[^\n]*)", lambda m: m.group(1) + note, text)
    return text.replace("step by step", f"step by step with key={key}") + note


def make_handler(state: StubState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _send(self, code: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length).decode()
            auth = self.headers.get("Authorization") or ""
            with state.lock:
                state.auth_headers.append(auth)
            if state.api_key and auth != f"Bearer {state.api_key}":
                state.bad_auth += 1
                message = f"bad key: got Authorization: {auth}" if state.echo_auth else "bad key"
                return self._send(401, json.dumps({"error": {"message": message}}).encode())
            body = json.loads(raw)
            prompt = body["messages"][-1]["content"]
            fault = state.next_fault()
            with state.lock:
                state.bodies.append(raw)
                state.served.append(fault)
                state.inflight += 1
                state.max_inflight = max(state.max_inflight, state.inflight)
            try:
                return self._answer(state, body, prompt, fault, auth)
            finally:
                with state.lock:
                    state.inflight -= 1

        def _answer(self, state, body, prompt, fault, auth=""):
            if state.delay:
                time.sleep(state.delay)
            if fault == "429":
                return self._send(429, b'{"error": {"message": "slow down"}}', headers={"Retry-After": "0.1"})
            if fault == "500":
                return self._send(500, b'{"error": {"message": "boom"}}')
            if fault == "timeout":
                time.sleep(state.timeout_sleep)
                return self._send(200, b"{}")
            text = "I cannot help with that." if fault == "noproblem" else _reply_text(prompt)
            if state.echo_key:
                text = _echo(text, auth)
            payload = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": text}}],
                                  "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
            if fault == "truncated":
                return self._send(200, payload[: len(payload) // 2])
            if fault == "nonjson":
                return self._send(200, b"<html>502 Bad Gateway</html>", ctype="text/html")
            return self._send(200, payload)

    return Handler


class Stub:
    def __init__(self, **kwargs):
        self.state = StubState(**kwargs)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Stub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
