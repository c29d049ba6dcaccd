"""The embedded generator through a real llama.cpp server (llama-cpp-python[server]) on 127.0.0.1: it starts on a
free port, a real request through the standard OpenAI client returns text, and it is stopped at the end with no
process left behind (issue 8)."""
import os

import pytest

from core.synthesis.generators import Request

pytestmark = pytest.mark.skipif(os.environ.get("PRISM_SKIP_LLAMA") == "1", reason="llama.cpp explicitly skipped")


def test_llama_cpp_server_answers_through_the_openai_client_and_stops(store):
    from core.features.models import EMBEDDED_MODELS, _package_file
    from core.synthesis.local_server import LlamaServer, LocalGenerator, available

    assert available(), "llama-cpp-python[server] is part of the set-up (requirements.txt)"
    gguf = _package_file(*EMBEDDED_MODELS["embedded:smollm2-135m-instruct"])
    with LlamaServer(gguf) as server:
        assert server.url.startswith("http://127.0.0.1:")
        from openai import OpenAI

        client = OpenAI(base_url=server.url, api_key="none", timeout=120)
        reply = client.chat.completions.create(model="local", max_tokens=16, temperature=0,
                                               messages=[{"role": "user", "content": "What is 2 + 3?"}])
        assert reply.choices[0].message.content.strip()
        proc = server.proc
    assert proc.poll() is not None  # stopped

    gen = LocalGenerator(store)
    out = gen.generate([Request((("user", "Name a prime number."),), 0.7, 0.95, 12)])
    assert out[0].text and gen.name.startswith("llama.cpp:")
    pid = gen.server.proc.pid
    gen.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    again = LocalGenerator(store).generate([Request((("user", "Name a prime number."),), 0.7, 0.95, 12)])
    assert again[0].cached and again[0].text == out[0].text  # cached by model file, not by the server's port
