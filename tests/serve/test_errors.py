"""Bad requests get OpenAI-style JSON errors with 4xx codes — never a 500 or a traceback; a wrong API key is a 401;
a client that disconnects mid-stream frees its slot."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

MAIN = "tiny"  # the served name (conftest.py)
USER = [{"role": "user", "content": "Who are you?"}]


def assert_openai_error(response: httpx.Response, status: int, param: str | None = None, code: str | None = None
                        ) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if param is not None:
        assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


CHAT_CASES = {
    "malformed-json": (b'{"model": "tiny", "messages": [', 400, None, "invalid_json"),
    "not-an-object": (b"[1, 2]", 400, None, "invalid_json"),
    "not-utf8": (b"\xff\xfe{", 400, None, "invalid_json"),
    "unknown-model": ({"model": "gpt-4", "messages": USER}, 404, "model", "model_not_found"),
    "negative-max-tokens": ({"model": MAIN, "messages": USER, "max_tokens": -5}, 400, "max_tokens", None),
    "zero-max-tokens": ({"model": MAIN, "messages": USER, "max_tokens": 0}, 400, "max_tokens", None),
    "max-tokens-past-context": ({"model": MAIN, "messages": USER, "max_tokens": 100000}, 400, "max_tokens",
                                "context_length_exceeded"),
    "over-long-prompt": ({"model": MAIN, "messages": [{"role": "user", "content": "word " * 2000}]}, 400,
                         "messages", "context_length_exceeded"),
    "missing-messages": ({"model": MAIN}, 400, "messages", None),
    "empty-messages": ({"model": MAIN, "messages": []}, 400, "messages", None),
    "missing-model": ({"messages": USER}, 400, "model", None),
    "bad-temperature": ({"model": MAIN, "messages": USER, "temperature": 9}, 400, "temperature", None),
    "bad-top-p": ({"model": MAIN, "messages": USER, "top_p": 0}, 400, "top_p", None),
    "n-zero": ({"model": MAIN, "messages": USER, "n": 0}, 400, "n", None),
    "n-too-many": ({"model": MAIN, "messages": USER, "n": 1000}, 400, "n", None),
    "too-many-stops": ({"model": MAIN, "messages": USER, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop", None),
    "wrong-role": ({"model": MAIN, "messages": [{"role": "wizard", "content": "hi"}]}, 400, "messages", None),
    "last-not-user": ({"model": MAIN, "messages": [*USER, {"role": "assistant", "content": "x"}]}, 400,
                      "messages", None),
    "image-part": ({"model": MAIN, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}, 400, "messages", None),
    "messages-not-a-list": ({"model": MAIN, "messages": "hi"}, 400, "messages", None),
    "logprobs": ({"model": MAIN, "messages": USER, "logprobs": True}, 400, "logprobs", "unsupported_parameter"),
}


@pytest.mark.parametrize("case", list(CHAT_CASES))
def test_bad_chat_requests_are_openai_errors(server: Any, case: str) -> None:
    body, status, param, code = CHAT_CASES[case]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.post(server.url + "/v1/chat/completions", content=data, headers={"content-type": "application/json"})
    assert_openai_error(r, status, param, code)


def test_bad_completion_requests_are_openai_errors(server: Any) -> None:
    url = server.url + "/v1/completions"
    assert_openai_error(httpx.post(url, content=b"{oops"), 400, code="invalid_json")
    assert_openai_error(httpx.post(url, json={"model": MAIN, "prompt": "hi", "max_tokens": -1}), 400, "max_tokens")
    assert_openai_error(httpx.post(url, json={"model": "nope", "prompt": "hi"}), 404, "model", "model_not_found")
    assert_openai_error(httpx.post(url, json={"model": MAIN, "prompt": "x " * 1000}), 400,
                        code="context_length_exceeded")
    assert_openai_error(httpx.post(url, json={"model": MAIN, "prompt": "hi", "echo": True}), 400, "echo")
    assert_openai_error(httpx.get(server.url + "/v1/nothing-here"), 404)
    assert_openai_error(httpx.get(server.url + "/v1/models/nope"), 404, "model", "model_not_found")


def test_the_openai_client_sees_typed_errors(client: Any) -> None:
    import openai

    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4", messages=USER)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as negative:
        client.chat.completions.create(model=MAIN, messages=USER, max_tokens=-3)
    assert negative.value.param == "max_tokens"


def test_api_key_is_required_and_checked(engine: Any) -> None:
    import openai

    from ftcore.serve.server import ServerThread

    with ServerThread(engine, api_key="sk-right") as s:
        good = openai.OpenAI(base_url=s.url + "/v1", api_key="sk-right", max_retries=0)
        assert [m.id for m in good.models.list().data][0] == MAIN
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=s.url + "/v1", api_key="sk-wrong", max_retries=0).models.list()
        for headers in ({}, {"authorization": "Bearer sk-wrong"}, {"authorization": "sk-right"},
                        {"authorization": "Bearer sk-righ"}):
            r = httpx.post(s.url + "/v1/chat/completions", json={"model": MAIN, "messages": USER}, headers=headers)
            error = assert_openai_error(r, 401, code="invalid_api_key")
            assert "sk-right" not in json.dumps(error)
        assert httpx.get(s.url + "/health").json()["status"] == "ok"  # the health check needs no key


@pytest.mark.slow
def test_a_client_that_disconnects_mid_stream_frees_its_slot(client: Any, server: Any, engine: Any) -> None:
    """Greedy, this question runs all 200 tokens (a plain request ends with finish_reason length)."""
    body = {"model": MAIN, "messages": [{"role": "user", "content": "Tell me a long story."}],
            "max_tokens": 200, "temperature": 0}
    ended = len(engine.finished)
    with httpx.Client(timeout=60) as http, http.stream("POST", server.url + "/v1/chat/completions",
                                                         json={**body, "stream": True}) as r:
        lines = r.iter_lines()
        got = []
        for line in lines:
            if line.startswith("data:"):
                got.append(line)
            if len(got) >= 4:
                break
    # the connection is closed: the request's row stops at the next step, long before its 200 tokens
    deadline = time.monotonic() + 20
    while (engine.stats() != {"running": 0, "waiting": 0} or len(engine.finished) == ended) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.stats() == {"running": 0, "waiting": 0}
    assert len(engine.finished) == ended + 1
    reason, tokens = engine.finished[-1]
    assert reason == "cancelled" and tokens < 200  # not "stop" / "length": cut when the client left
    assert client.chat.completions.create(**{**body, "max_tokens": 4}).choices[0].message.content
