"""OpenAI's error shape, {"error": {"message", "type", "param", "code"}}, for everything under /v1.

These endpoints speak OpenAI's protocol, so their clients (SDKs, evaluation harnesses) read errors the way OpenAI
writes them, not in the app's usual shape. OpenAIRoute turns the route's own errors, and FastAPI's validation
errors, into that shape."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
         413: "invalid_request_error", 503: "server_error", 504: "server_error"}


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def openai_error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": TYPES.get(status, "server_error"), "param": param, "code": code}}


def openai_error_response(error: OpenAIError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(openai_error_body(error.status, error.message, error.param, error.code),
                        status_code=error.status, headers=headers)


def from_validation(errors: list[dict[str, Any]]) -> OpenAIError:
    """The first validation error as a 400 naming its field (as `param`) and saying what is wrong."""
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    # Union members add their type names to the location (`prompt.str`, `prompt.list[int]`): not the client's field.
    loc = [p for p in loc if p not in ("str", "int", "float", "bool") and not p.startswith(("list[", "function-"))]
    param = ".".join(loc) or None
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        message = "this field is not supported by Tuneloop's model server"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return OpenAIError(400, f"{param or 'body'}: {message}{more}", param=param, code="invalid_value")


class OpenAIRoute(APIRoute):
    """An APIRoute whose errors (its dependencies' included) answer in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def openai_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except OpenAIError as error:
                return openai_error_response(error)
            except RequestValidationError as exc:
                return openai_error_response(from_validation(list(exc.errors())))

        return openai_handler
