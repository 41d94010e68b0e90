"""The model server: a small FastAPI app answering OpenAI's chat and completions for Tuneloop's local models.

Only callers holding the internal credential get in (the web app's /v1 after its token check, and the workers'
backend client). torch is imported in the background at start-up and models load on first use, so the process is
up at once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from app.core.config import Settings, get_settings
from app.core.db import get_sessionmaker
from app.serving.errors import OpenAIError, from_validation, openai_error_response
from app.serving.internal import HEADER, verify_internal
from app.serving.schemas import ChatCompletionRequest, CompletionRequest
from app.serving.service import list_models
from worker.serving import protocol
from worker.serving.bridge import Pending
from worker.serving.params import RequestError
from worker.serving.registry import Registry
from worker.serving.settings import EngineSettings
from worker.serving.streaming import sse_events

logger = logging.getLogger("tuneloop.serving")


def engine_settings(settings: Settings) -> EngineSettings:
    return EngineSettings(engine=settings.serving_engine, static_cache=settings.serving_static_cache,
                          compile=settings.serving_compile, dtype=settings.serving_dtype,
                          max_batch_size=settings.serving_max_batch_size,
                          max_batch_tokens=settings.serving_max_batch_tokens, max_padding=settings.serving_max_padding,
                          default_max_tokens=settings.serving_default_max_tokens)


async def _json(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise OpenAIError(400, f"The body is not valid JSON: {exc}", code="invalid_json") from exc


def _parse(model: type[ChatCompletionRequest | CompletionRequest], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(list(exc.errors())) from exc


def create_server(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    registry = Registry(engine_settings(settings), settings.serving_max_models)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        registry.warm_up()
        yield
        registry.close()

    app = FastAPI(title="Tuneloop model server", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.registry = registry

    @app.middleware("http")
    async def internal_only(request: Request, call_next):
        if request.url.path != "/health" and not verify_internal(request.headers.get(HEADER)):
            return openai_error_response(OpenAIError(
                401, "This is Tuneloop's internal model server; call /v1 on the web app with a Tuneloop API token.",
                code="invalid_api_key"))
        return await call_next(request)

    @app.exception_handler(OpenAIError)
    async def _openai_error(_request: Request, error: OpenAIError) -> JSONResponse:
        return openai_error_response(error)

    @app.exception_handler(RequestError)
    async def _request_error(_request: Request, error: RequestError) -> JSONResponse:
        return openai_error_response(OpenAIError(400, error.message, param=error.param, code="invalid_value"))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        logger.exception("serving: unhandled error")
        return openai_error_response(OpenAIError(500, f"The model server failed: {type(error).__name__}: {error}"))

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "loaded": [m["names"] for m in registry.stats()]}

    @app.get("/internal/stats")
    def stats() -> dict[str, Any]:
        return {"models": registry.stats()}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        with get_sessionmaker()() as session:
            return {"object": "list", "data": list_models(session)}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = _parse(ChatCompletionRequest, await _json(request))
        engine = await registry.engine(body.model)
        if getattr(engine, "takes_images", False):
            from worker.serving.vision_chat import vision_chat

            return await vision_chat(body, engine)
        if body.image_urls():
            raise OpenAIError(400, f"The model '{body.model}' does not take images (it is not a vision-language "
                              "model); send text only.", param="messages", code="invalid_value")
        loaded = engine.loaded
        prepared = await anyio.to_thread.run_sync(
            _preparing(engine).prepare_chat, body, loaded.tokenizer, loaded.context_length,
            engine.settings.default_max_tokens)
        return await _answer("chat.completion", body, engine, prepared)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        body = _parse(CompletionRequest, await _json(request))
        engine = await registry.engine(body.model)
        if getattr(engine, "takes_images", False):
            raise OpenAIError(400, f"The model '{body.model}' is a vision-language model: use /v1/chat/completions.",
                              param="model", code="invalid_value")
        loaded = engine.loaded
        prepared = await anyio.to_thread.run_sync(_preparing(engine).prepare_completion, body, loaded.tokenizer,
                                                  loaded.context_length)
        return await _answer("text_completion", body, engine, prepared)

    return app


def _preparing(engine: Any) -> Any:
    """The module that turns requests into prompt ids for this engine: an encoder-decoder reads its prompt as a
    source text and has separate limits for prompt and answer."""
    if getattr(engine, "encoder_decoder", False):
        from worker.serving import seq2seq_prompt

        return seq2seq_prompt
    return protocol


async def _answer(kind: str, body: ChatCompletionRequest | CompletionRequest, engine: Any,
                  prepared: protocol.Prepared) -> Response:
    pending = Pending(engine)
    pending.submit(prepared.prompts, prepared.params)  # RequestError (a 400) before anything is queued
    tokenizer = engine.loaded.tokenizer
    if body.stream:
        events: AsyncIterator[bytes] = sse_events(kind, body, prepared, pending, tokenizer)
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    results = await pending.results()
    build = protocol.chat_response if kind == "chat.completion" else protocol.completion_response
    return Response(orjson.dumps(build(body.model, prepared, results, tokenizer)), media_type="application/json")
