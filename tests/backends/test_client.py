"""The client against servers that refuse structured output the way llama.cpp's server does (HTTP 500 naming
response_format): the schema goes into the prompt, the answer is parsed, and a non-JSON answer is asked again."""

from __future__ import annotations

import asyncio
import json

from app.backends.client import BackendClient
from app.backends.config import BackendConfig, Limits
from app.backends.requests import ModelRequest
from tests.support.openai_server import Reply, ScriptedServer, chat_reply

LLAMA_CPP_REFUSAL = {"error": {"code": 500, "type": "server_error", "message":
                               'response_format type must be one of "text" or "json_object", but got: json_schema'}}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_a_server_refusing_json_schema_gets_the_schema_in_the_prompt():
    chatty = iter([True])

    def script(path, body, headers):
        if "response_format" in body:
            return Reply(status=500, json=LLAMA_CPP_REFUSAL)
        if next(chatty, False):
            return chat_reply("Sure! The capital of France is Paris.")  # not the JSON asked for: asked again
        return chat_reply('```json\n{"city": "Paris"}\n```')

    with ScriptedServer(script) as server:
        config = BackendConfig(name="llama-cpp", kind="openai", base_url=server.url, model="qwen",
                               limits=Limits(max_retries=2))
        request = ModelRequest(backend="llama-cpp", messages=[{"role": "user", "content": "Capital of France?"}],
                               json_schema=SCHEMA, temperature=0)

        async def ask_twice():
            async with BackendClient(config) as client:
                return await client.send(request), await client.send(request)

        first, second = asyncio.run(ask_twice())
    assert json.loads(first.text.strip("`").removeprefix("json")) == {"city": "Paris"} and second.text == first.text
    bodies = [s.body for s in server.seen]
    assert "response_format" in bodies[0]
    # Asked without it, the schema in a system message; the chatty answer was asked again; and the refusal is
    # remembered: the second request goes without response_format straight away.
    assert len(bodies) == 4 and not any("response_format" in b for b in bodies[1:])
    assert all(json.dumps(SCHEMA) in b["messages"][-1]["content"] for b in bodies[1:])
    assert bodies[1]["messages"][-1]["role"] == "system"


def test_a_500_that_is_not_about_the_schema_is_retried_not_taken_for_a_refusal():
    calls = iter([Reply(status=500, json={"error": {"message": "CUDA error: out of memory"}})])

    def script(path, body, headers):
        return next(calls, None) or chat_reply('{"city": "Rome"}')

    with ScriptedServer(script) as server:
        config = BackendConfig(name="vllm", kind="openai", base_url=server.url, model="llama",
                               limits=Limits(max_retries=2))
        request = ModelRequest(backend="vllm", messages=[{"role": "user", "content": "Capital of Italy?"}],
                               json_schema=SCHEMA)

        async def ask():
            async with BackendClient(config) as client:
                return await client.send(request)

        answer = asyncio.run(ask())
    assert json.loads(answer.text) == {"city": "Rome"}
    assert [("response_format" in s.body) for s in server.seen] == [True, True]  # retried with the schema
