"""A small scripted OpenAI-compatible server, real HTTP on a free port, for what real servers do badly.

The test gives a `script`: a function of the request (path, JSON body, headers) returning a `Reply`, or
None for the default answer. Every request is recorded (time, path, body) so a test can count what the
server saw: per window for rate limits, per body for "never paid twice".
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = "application/json"


@dataclass
class Seen:
    at: float
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    answered: bool = False


def last_user_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        users = [m.get("content", "") for m in body["messages"] if m.get("role") == "user"]
        return str(users[-1]) if users else ""
    return str(body.get("prompt", ""))


def chat_reply(*texts: str, finish_reason: str = "stop", model: str = "scripted") -> Reply:
    choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": finish_reason}
               for i, t in enumerate(texts)]
    return Reply(json={"id": "chatcmpl-1", "object": "chat.completion", "model": model, "choices": choices,
                       "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}})


def completion_reply(*texts: str, finish_reason: str = "stop", model: str = "scripted") -> Reply:
    choices = [{"index": i, "text": t, "finish_reason": finish_reason} for i, t in enumerate(texts)]
    return Reply(json={"id": "cmpl-1", "object": "text_completion", "model": model, "choices": choices,
                       "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}})


def default_reply(body: dict[str, Any], path: str) -> Reply:
    """An answer that says what it answered, `n` times: 'answer 0 to: <the user text>'; for /embeddings, each
    input's word_vector."""
    if path.endswith("/embeddings"):
        texts = body.get("input") or []
        return embeddings_reply([texts] if isinstance(texts, str) else list(texts))
    n = int(body.get("n") or 1)
    texts = [f"answer {i} to: {last_user_text(body)}" for i in range(n)]
    return chat_reply(*texts) if path.endswith("chat/completions") else completion_reply(*texts)


def word_vector(text: str, dim: int = 64) -> list[float]:
    """A deterministic bag-of-words embedding: texts sharing most of their words are near-duplicates (cosine of
    "a b c d e" and "a b c d e f" is 5 / sqrt(30), about 0.91), unrelated ones are far apart."""
    import hashlib

    import numpy as np

    total = np.zeros(dim)
    for word in text.lower().split():
        seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vector = np.random.default_rng(seed).standard_normal(dim)
        total += vector / np.linalg.norm(vector)
    norm = np.linalg.norm(total)
    return (total / norm if norm else total).round(6).tolist()


def embeddings_reply(texts: list[str], model: str = "scripted-embed") -> Reply:
    data = [{"object": "embedding", "index": i, "embedding": word_vector(t)} for i, t in enumerate(texts)]
    return Reply(json={"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": len(texts)}})


Script = Callable[[str, dict[str, Any], dict[str, str]], Reply | None]


class ScriptedServer:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        app = Starlette(routes=[Route("/v1/chat/completions", self._handle, methods=["POST"]),
                                Route("/v1/completions", self._handle, methods=["POST"]),
                                Route("/v1/embeddings", self._handle, methods=["POST"]),
                                Route("/v1/models", self._models, methods=["GET"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                lifespan="off", backlog=4096, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="scripted-openai", daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the scripted server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    async def _models(self, _request: Request) -> Response:
        return Response(orjson.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}),
                        media_type="application/json")

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = {"_raw": raw.decode(errors="replace")}
        path = request.url.path
        seen = Seen(at=time.monotonic(), path=path, body=body, headers=dict(request.headers))
        with self._lock:
            self.seen.append(seen)
        reply = self.script(path, body, seen.headers) if self.script else None
        if asyncio.iscoroutine(reply):
            reply = await reply
        reply = reply or default_reply(body, path)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        content = reply.body if reply.body is not None else orjson.dumps(reply.json)
        seen.answered = True
        return Response(content, status_code=reply.status, headers=reply.headers, media_type=reply.content_type)

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.body for s in self.seen]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
