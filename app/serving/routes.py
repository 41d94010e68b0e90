"""/v1: Tuneloop's models for outside tools, OpenAI-compatibly (bearer token of any Tuneloop user)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.core.db import SessionDep
from app.models import User
from app.serving import service
from app.serving.errors import OpenAIError, OpenAIRoute
from app.serving.proxy import forward
from app.serving.schemas import ChatCompletionRequest, CompletionRequest
from app.users.service import user_for_token

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], route_class=OpenAIRoute)


def token_user(request: Request, session: SessionDep) -> User:
    """The user of the bearer token; 401 in OpenAI's shape otherwise."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise OpenAIError(401, "Send a Tuneloop API token as 'Authorization: Bearer <token>' "
                          "(`tuneloop token create` makes one).", code="invalid_api_key")
    user = user_for_token(session, secret.strip())
    if user is None:
        raise OpenAIError(401, "The API token is invalid or revoked.", code="invalid_api_key")
    return user


TokenUser = Annotated[User, Depends(token_user)]


@router.get("/models", summary="The models served here: local backends by name, succeeded runs as run-<id>")
def models(_user: TokenUser, session: SessionDep) -> dict[str, Any]:
    return {"object": "list", "data": service.list_models(session)}


async def _relay(session: Any, body: ChatCompletionRequest | CompletionRequest, path: str) -> Response:
    await run_in_threadpool(service.weights_for, session, body.model)  # 404 before anything is forwarded
    return await forward(path, body.model_dump(mode="json", exclude_unset=True), stream=body.stream)


@router.post("/chat/completions", summary="Chat completion from a served model (OpenAI's shape, SSE when streaming)")
async def chat_completions(body: ChatCompletionRequest, _user: TokenUser, session: SessionDep) -> Response:
    return await _relay(session, body, "/v1/chat/completions")


@router.post("/completions", summary="Raw completion, with logprobs and echo for scoring (OpenAI's legacy shape)")
async def completions(body: CompletionRequest, _user: TokenUser, session: SessionDep) -> Response:
    return await _relay(session, body, "/v1/completions")
