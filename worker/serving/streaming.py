"""Server-sent events in OpenAI's chunk format: a first chunk with the role, text deltas, the finish, usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from app.serving.errors import openai_error_body
from app.serving.schemas import ChatCompletionRequest, CompletionRequest
from worker.serving import protocol
from worker.serving.bridge import Pending
from worker.serving.params import Delta, RequestError, RequestResult


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _choice(kind: str, index: int, delta: Delta, tokenizer: Any, first: bool) -> dict[str, Any]:
    if kind == "chat.completion":
        content: dict[str, Any] = {"role": "assistant", "content": delta.text} if first else {"content": delta.text}
        if delta.finish_reason is not None and not delta.text and not first:
            content = {}
        logprobs = protocol.chat_logprobs(tokenizer, delta.logprobs) if delta.logprobs else None
        return {"index": index, "delta": content, "logprobs": logprobs, "finish_reason": delta.finish_reason}
    logprobs = None
    if delta.logprobs:
        logprobs = protocol.completion_logprobs(tokenizer, list(delta.logprobs), [e.token_id for e in delta.logprobs])
    return {"index": index, "text": delta.text, "logprobs": logprobs, "finish_reason": delta.finish_reason}


async def sse_events(kind: str, body: ChatCompletionRequest | CompletionRequest, prepared: protocol.Prepared,
                     pending: Pending, tokenizer: Any) -> AsyncIterator[bytes]:
    """The stream of one request: every sample's deltas as they come, `[DONE]` at the end. A failure after the
    stream started is sent as an error event (the status line is already gone)."""
    chunk_kind = "chat.completion.chunk" if kind == "chat.completion" else "text_completion"
    envelope = protocol.envelope(chunk_kind, body.model)
    n = prepared.params.n
    started: set[int] = set()
    results: list[tuple[int, RequestResult]] = []
    try:
        async for number, event in pending.events():
            if isinstance(event, RequestResult):
                results.append((number, event))
                continue
            index = number * n + event.index
            choice = _choice(kind, index, event, tokenizer, first=index not in started)
            started.add(index)
            yield _event(protocol.chunk(chunk_kind, envelope, [choice]))
        # A sample that finished before writing anything (max_tokens 0) still gets its finish chunk.
        for number, result in results:
            for sample in result.samples:
                index = number * n + sample.index
                if index not in started:
                    delta = Delta(index=sample.index, text="", finish_reason=sample.finish_reason)
                    yield _event(protocol.chunk(chunk_kind, envelope, [_choice(kind, index, delta, tokenizer, True)]))
        if body.include_usage():
            usage = protocol.usage(prepared.prompts, [result for _, result in results])
            yield _event(protocol.chunk(chunk_kind, envelope, [], usage=usage))
    except RequestError as error:
        yield _event(openai_error_body(400, error.message, error.param))
    except Exception as error:  # the engine failed mid-stream: say so in the stream, then end it
        yield _event(openai_error_body(500, f"The model failed while answering: {error}"))
    yield b"data: [DONE]\n\n"
