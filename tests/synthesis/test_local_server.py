"""The embedded generator through a real llama.cpp server (llama-cpp-python[server]) on 127.0.0.1: it binds its own
port, proves it is ours, answers through the standard OpenAI client, and never outlives its parent (a normal exit,
SIGTERM, kill -9). Where the server cannot run (a build that dies with SIGILL, at start or on its first request),
the generator says why and the run completes through the transformers fallback with the reason recorded (issue 17).
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.synthesis.generators import Request
from tests.helpers import DATA, ROOT, fake_features, gone, light_config, wait_gone

FAKE = Path(__file__).with_name("fake_llama_server.py")
pytestmark = pytest.mark.skipif(os.environ.get("PRISM_SKIP_LLAMA") == "1", reason="llama.cpp explicitly skipped")


def gguf():
    from core.features.models import EMBEDDED_MODELS, _package_file

    return _package_file(*EMBEDDED_MODELS["embedded:smollm2-135m-instruct"])


def fake(mode: str) -> list[str]:
    return [sys.executable, str(FAKE), "--mode", mode]


def test_llama_cpp_server_answers_through_the_openai_client_and_stops(store):
    from openai import AuthenticationError, OpenAI

    from core.synthesis.local_server import LlamaServer, LocalGenerator, available

    assert available(), "llama-cpp-python[server] is part of the set-up (requirements.txt)"
    with LlamaServer(gguf()) as server:
        assert server.url.startswith("http://127.0.0.1:")
        client = OpenAI(base_url=server.url, api_key=server.token, timeout=120)
        reply = client.chat.completions.create(model="local", max_tokens=16, temperature=0,
                                               messages=[{"role": "user", "content": "What is 2 + 3?"}])
        assert reply.choices[0].message.content.strip()
        with pytest.raises(AuthenticationError):  # the server takes only its own token: no other local client
            OpenAI(base_url=server.url, api_key="guess", max_retries=0).chat.completions.create(
                model="local", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        proc = server.proc
    assert proc.poll() is not None  # stopped

    gen = LocalGenerator(store)
    out = gen.generate([Request((("user", "Name a prime number."),), 0.7, 0.95, 12)])
    assert out[0].text and gen.name.startswith("llama.cpp:") and not gen.notices
    pid = gen.server.proc.pid
    gen.close()
    assert wait_gone(pid, 5)
    again = LocalGenerator(store).generate([Request((("user", "Name a prime number."),), 0.7, 0.95, 12)])
    assert again[0].cached and again[0].text == out[0].text  # cached by model file, not by the server's port


PARENT = """
import json, sys, time
sys.path.insert(0, {root!r})
from core.synthesis.local_server import LlamaServer
server = LlamaServer({gguf!r}).start()
print(json.dumps({{"server": server.proc.pid, "url": server.url}}), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_server_dies_with_its_parent(sig, tmp_path):
    """kill -9 or SIGTERM of the process that started the server takes the server with it (it used to keep running,
    re-parented to PID 1, 340 MB, still answering)."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(root=str(ROOT), gguf=str(gguf())))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(parent.stdout.readline())
        assert not gone(info["server"])
        parent.send_signal(sig)
        parent.wait(timeout=30)
        assert wait_gone(info["server"]), f"the llama.cpp server outlived its parent after {sig.name}"
    finally:
        parent.kill()


@pytest.mark.parametrize("mode", ["sigill-at-start", "sigill-on-request"])
def test_a_server_killed_by_sigill_is_explained(mode):
    from core.synthesis.local_server import LlamaServer, ServerFailed

    if mode == "sigill-at-start":
        with pytest.raises(ServerFailed, match="SIGILL") as err:
            LlamaServer(gguf(), command=fake(mode)).start()
        assert "tileloadd (fake)" in str(err.value)  # its last stderr lines are part of the reason
        return
    from openai import OpenAI

    server = LlamaServer(gguf(), command=fake(mode)).start()
    try:
        with pytest.raises(Exception):
            OpenAI(base_url=server.url, api_key=server.token, max_retries=0).chat.completions.create(
                model="local", messages=[{"role": "user", "content": "hi"}])
        server.proc.wait(timeout=10)
        assert not server.alive()
        reason = server.reason()
        assert "SIGILL" in reason and "instruction this CPU or its kernel refuses" in reason
        assert "AMX tile load (fake)" in reason
    finally:
        server.stop()


def test_a_server_that_cannot_prove_it_is_ours_is_refused():
    from core.synthesis.local_server import LlamaServer, ServerFailed

    server = LlamaServer(gguf(), command=fake("wrong-proof"))
    with pytest.raises(ServerFailed, match="not the one this process started"):
        server.start()
    assert server.proc is None  # and it was stopped


@pytest.mark.parametrize("mode", ["sigill-at-start", "sigill-on-request"])
def test_the_generator_falls_back_to_transformers_with_the_reason(store, mode):
    from core.synthesis.local_server import LocalGenerator

    gen = LocalGenerator(store, server_command=fake(mode))
    out = gen.generate([Request((("user", "Name a prime number."),), 0.7, 0.95, 6),
                        Request((("user", "Name a colour."),), 0.7, 0.95, 6)])
    assert all(r.text for r in out), out  # every request answered, by the fallback
    assert len(gen.notices) == 1 and "SIGILL" in gen.notices[0] and "transformers" in gen.notices[0]
    assert gen.server is None
    assert gen.generate([Request((("user", "Name a fruit."),), 0.7, 0.95, 6)])[0].text  # stays on the fallback
    assert len(gen.notices) == 1


@pytest.mark.slow  # a whole transformers-generated run; the fallback and its reason are the parametrised tests above
def test_a_synthesis_run_completes_through_the_fallback_with_the_reason_recorded(workspace):
    """The whole loop with the embedded generator on a machine where llama.cpp dies with SIGILL on its first request:
    the run is done (not failed), its candidates came from the fallback, and the summary says why."""
    from core.data.ingest import ingest_file
    from core.data.store import Store
    from core.synthesis.local_server import LocalGenerator
    from core.synthesis.loop import SynthesisConfig, candidates_frame, run_synthesis, summarize

    with Store() as store:
        store.save_dataset("mix", ingest_file(DATA / "mixture_24.jsonl"), source="x")
        config = SynthesisConfig(rounds=1, requests_per_round=1, problems_per_request=1, solutions_per_problem=1,
                                 max_problem_tokens=48, max_solution_tokens=48, answer_mode="none")
        light = light_config()
        fake_features(store, "mix", light)  # the seed as analysed: the model featurises the candidates only
        generator = LocalGenerator(store, server_command=fake("sigill-on-request"))
        summary = run_synthesis(store, "mix", config, generator, light)
        assert summary["status"] == "done", summary
        assert len(summary["notices"]) == 1 and "SIGILL" in summary["notices"][0]
        assert summarize(store, summary["run_id"])["notices"] == summary["notices"]  # persisted with the run
        frame = candidates_frame(store, summary["run_id"])
        assert len(frame) and "generation error" not in set(frame["reason"])


def test_the_installed_llama_cpp_is_the_portable_build():
    """The set-up's llama.cpp must run on any CPU of its architecture: no AMX tile instructions, no AVX-512 and no
    -march=native (a native build on a CPU advertising AMX died with SIGILL on its first request). Read in a child
    process (llama.cpp's native code never runs in the test process) and from the library's own instructions."""
    import shutil
    import sysconfig

    info = subprocess.run([sys.executable, "-c", "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"],
                          capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr[-2000:]
    features = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in info.stdout.split("|")) if v.strip()}
    assert not any(k.startswith(("AMX", "AVX512")) for k in features), features
    lib = Path(sysconfig.get_paths()["purelib"]) / "llama_cpp" / "lib" / "libggml-cpu.so"
    if shutil.which("objdump") and lib.exists():
        asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True,
                             timeout=300).stdout
        for insn in ("tileloadd", "ldtilecfg", "tdpbssd", "%zmm"):
            assert insn not in asm, f"{lib.name} holds {insn}: not a portable build"
