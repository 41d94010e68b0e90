"""/v1: Tuneloop's models for outside tools, OpenAI-compatibly (bearer token of any Tuneloop user).

A completion can take minutes: the request's transaction ends (commits) once the token and the model are checked,
before the model server is called, so it holds no pooled connection meanwhile (and on SQLite not the write lock
the model server needs to read the backend)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.core.db import SessionDep
from app.models import User
from app.serving import service
from app.serving.errors import OpenAIRoute
from app.serving.proxy import forward
from app.serving.schemas import ChatCompletionRequest, CompletionRequest


class OpenAIErrorBody(BaseModel):
    error: dict[str, Any]  # {"message", "type", "param", "code"}


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorBody, "description": what} for status, what in (
        (400, "A parameter is missing, malformed or not supported (param names it)"),
        (401, "No valid Tuneloop API token"), (404, "No such model (or a run that has not succeeded)"),
        (503, "The model server is not answering"))}
router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], route_class=OpenAIRoute, responses=ERRORS)


def token_user(request: Request, session: SessionDep) -> User:
    """The bearer token's user; 401 in OpenAI's shape otherwise."""
    return service.token_user(session, request.headers.get("authorization", ""))


TokenUser = Annotated[User, Depends(token_user)]


@router.get("/models", summary="The models served here: local backends by name, succeeded runs as run-<id>")
def models(_user: TokenUser, session: SessionDep) -> dict[str, Any]:
    return {"object": "list", "data": service.list_models(session)}


def _check_and_release(session: Session, name: str) -> None:
    service.weights_for(session, name)  # 404 before anything is forwarded
    session.commit()  # the transaction ends here, not after the model has answered (see the module's docstring)


async def _relay(session: Session, body: ChatCompletionRequest | CompletionRequest, path: str) -> Response:
    await run_in_threadpool(_check_and_release, session, body.model)
    return await forward(path, body.model_dump(mode="json", exclude_unset=True), stream=body.stream)


@router.post("/chat/completions", summary="Chat completion from a served model (OpenAI's shape, SSE when streaming)")
async def chat_completions(body: ChatCompletionRequest, _user: TokenUser, session: SessionDep) -> Response:
    return await _relay(session, body, "/v1/chat/completions")


@router.post("/completions", summary="Raw completion, with logprobs and echo for scoring (OpenAI's legacy shape)")
async def completions(body: CompletionRequest, _user: TokenUser, session: SessionDep) -> Response:
    return await _relay(session, body, "/v1/completions")
