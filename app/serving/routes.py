"""/v1: Tuneloop's models for outside tools, OpenAI-compatibly (bearer token of any Tuneloop user).

These routes take no request session: a completion can take minutes, and a transaction open that long would hold
a pooled connection (and on SQLite the write lock the model server needs to read the backend). The service's short
sessions check the token and the model, and are closed before the model server is called."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.models import User
from app.serving import service
from app.serving.errors import OpenAIRoute
from app.serving.proxy import forward
from app.serving.schemas import ChatCompletionRequest, CompletionRequest

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], route_class=OpenAIRoute)


def token_user(request: Request) -> User:
    """The bearer token's user; 401 in OpenAI's shape otherwise."""
    return service.token_user(request.headers.get("authorization", ""))


TokenUser = Annotated[User, Depends(token_user)]


@router.get("/models", summary="The models served here: local backends by name, succeeded runs as run-<id>")
def models(_user: TokenUser) -> dict[str, Any]:
    return {"object": "list", "data": service.models()}


async def _relay(body: ChatCompletionRequest | CompletionRequest, path: str) -> Response:
    await run_in_threadpool(service.check_served, body.model)  # 404 before anything is forwarded
    return await forward(path, body.model_dump(mode="json", exclude_unset=True), stream=body.stream)


@router.post("/chat/completions", summary="Chat completion from a served model (OpenAI's shape, SSE when streaming)")
async def chat_completions(body: ChatCompletionRequest, _user: TokenUser) -> Response:
    return await _relay(body, "/v1/chat/completions")


@router.post("/completions", summary="Raw completion, with logprobs and echo for scoring (OpenAI's legacy shape)")
async def completions(body: CompletionRequest, _user: TokenUser) -> Response:
    return await _relay(body, "/v1/completions")
