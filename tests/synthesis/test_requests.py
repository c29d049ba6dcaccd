"""The request cache and the endpoint client under the faults a real team meets: identical requests in flight, a
wrong key fixed later, an endpoint that echoes the key, a key in the environment meant for another endpoint, and a
local database error in the middle of a request. Each test failed on the code before the fix (issue 9)."""
import json
import threading

import pytest

from core.synthesis.generators import Request, RequestCache, Result
from core.synthesis.openai_backend import OpenAIGenerator
from tests.openai_stub import Stub

SECRET = "sk-test-SECRET-1234567890"


def solve(i: int) -> Request:
    return Request((("user", f"What is {i} + {i}? Give \\boxed{{}}."),), 0.7, 0.95, 64, sample=0)


def test_identical_requests_are_sent_once_and_all_get_the_reply(store):
    """Two problems with the same text give identical solve requests; with concurrency 4 they used to race on the
    cache write, and the loser was recorded as an endpoint error."""
    with Stub() as stub:
        gen = OpenAIGenerator(store, base_url=stub.url, model="m", concurrency=4)
        requests = [solve(1)] * 6 + [solve(2)] * 5 + [solve(3)]
        results = gen.generate(requests)
    assert all(r.text and not r.error for r in results)
    assert [r.text for r in results[:6]] == [results[0].text] * 6
    assert len(stub.state.bodies) == 3  # one request per distinct payload
    assert store.query("SELECT count(*), count(error) FROM llm_cache")[0] == (3, 0)


def test_a_cached_reply_is_never_overwritten_by_an_error(store):
    cache = RequestCache(store, {"ns": "t"})
    cache.put(solve(1), Result("good"))
    cache.put(solve(1), Result(None, "late error from a racing thread"))
    assert cache.get(solve(1)).text == "good"
    cache.put(solve(2), Result(None, "400: bad request"))
    cache.put(solve(2), Result("fixed"))  # an error may be replaced by a reply
    assert cache.get(solve(2)).text == "fixed"


def test_concurrent_cache_writes_of_one_key_do_not_fail(store):
    cache = RequestCache(store, {"ns": "t"})
    errors = []

    def write(i):
        try:
            for _ in range(20):
                cache.put(solve(7), Result(f"reply {i}"))
        except Exception as exc:  # "Conflict on update" before the store's write lock
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.query("SELECT count(*) FROM llm_cache")[0][0] == 1


def test_a_local_database_error_is_not_taken_for_the_endpoints_answer(store, monkeypatch):
    """The broad except around the request used to catch a failing cache write, class it as a final endpoint
    error and cache it. A local error must surface as what it is."""
    with Stub() as stub:
        gen = OpenAIGenerator(store, base_url=stub.url, model="m", concurrency=1, max_retries=0)

        def broken_put(items):
            raise RuntimeError("disk full")

        monkeypatch.setattr(gen.cache, "put_many", broken_put)
        with pytest.raises(RuntimeError, match="disk full"):
            gen.generate([solve(1)])
    assert store.query("SELECT count(*) FROM llm_cache")[0][0] == 0


def test_auth_errors_are_not_cached_and_a_fixed_key_is_used_on_relaunch(store):
    with Stub(api_key=SECRET) as stub:
        wrong = OpenAIGenerator(store, base_url=stub.url, model="m", api_key="sk-wrong-key-000000", max_retries=0)
        first = wrong.generate([solve(1)])[0]
        assert first.text is None and "refused the API key" in first.error
        assert store.query("SELECT count(*) FROM llm_cache")[0][0] == 0  # a 401 says nothing about the request
        right = OpenAIGenerator(store, base_url=stub.url, model="m", api_key=SECRET)
        again = right.generate([solve(1)])[0]
        assert again.text and not again.cached and stub.state.bad_auth == 1


def test_an_endpoint_that_echoes_the_key_never_gets_it_stored_or_shown(store):
    with Stub(api_key="the-right-one", echo_auth=True) as stub:
        gen = OpenAIGenerator(store, base_url=stub.url, model="m", api_key=SECRET, max_retries=0)
        result = gen.generate([solve(1)])[0]
        with pytest.raises(RuntimeError) as info:
            gen.test_connection()
    assert stub.state.auth_headers[0] == f"Bearer {SECRET}"  # the key did reach the endpoint it was given for
    assert SECRET not in result.error and "[redacted]" in result.error
    assert SECRET not in str(info.value)


def test_an_environment_key_only_goes_to_the_url_it_was_set_for(store, monkeypatch):
    with Stub() as stub, Stub() as other:
        monkeypatch.setenv("PRISM_API_KEY", SECRET)
        monkeypatch.setenv("PRISM_API_BASE_URL", other.url)
        OpenAIGenerator(store, base_url=stub.url, model="m").generate([solve(1)])
        OpenAIGenerator(store, base_url=other.url, model="m").generate([solve(2)])
    assert stub.state.auth_headers == ["Bearer none"]  # not meant for this endpoint: not sent
    assert other.state.auth_headers == [f"Bearer {SECRET}"]


def test_redaction_masks_keys_and_bearer_tokens():
    from core.synthesis.credentials import redact

    text = 'got Authorization: Bearer abc.def-123 and {"api_key": "k-999999"} and sk-proj-ABCDEF123456 and XYZSECRET'
    out = redact(text, "XYZSECRET")
    for secret in ("abc.def-123", "k-999999", "sk-proj-ABCDEF123456", "XYZSECRET"):
        assert secret not in out
    assert out.count("[redacted]") == 4


def test_stub_faults_still_cached_the_right_way(store):
    """A final error about the request itself (a body that stays garbled after every retry) is cached; a 500 that
    persists is not (it says nothing about the request), so a resume asks again."""
    with Stub(faults=["500"] * 3 + ["nonjson"] * 3) as stub:
        gen = OpenAIGenerator(store, base_url=stub.url, model="m", max_retries=2, backoff=0.01, concurrency=1)
        a = gen.generate([solve(1)])[0]
        b = gen.generate([solve(2)])[0]
    assert a.text is None and b.text is None
    rows = dict(store.query("SELECT error IS NOT NULL, count(*) FROM llm_cache GROUP BY 1"))
    assert rows == {True: 1}
    assert json.dumps(rows)
