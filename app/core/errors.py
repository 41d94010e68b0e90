"""One error shape for the API: {"error": {"code", "message", "details"}}; HTML pages for the browser."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


class AppError(Exception):
    """An error a user can act on. Services raise it; handlers turn it into JSON or a page."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code:
            self.code = code


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


def _render(request: Request, status: int, code: str, message: str, details=None, headers=None) -> Response:
    if wants_json(request):
        return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)
    from app.core.templating import templates

    return templates.TemplateResponse(
        request,
        "base/error.html",
        {"status": status, "code": code, "message": message, "details": details or []},
        status_code=status,
        headers=headers,
    )


def pydantic_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as {"loc", "field", "message", "type"}; loc keeps list indexes for batch items."""
    out = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if p not in ("body",)]
        out.append(
            {
                "loc": loc,
                "field": ".".join(str(p) for p in loc),
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "value_error"),
            }
        )
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return _render(request, exc.status_code, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        details = pydantic_details(list(exc.errors()))
        where = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details[:5])
        return _render(request, 422, "validation_error", f"The request is not valid: {where}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return _render(request, exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> Response:
        return _render(request, 503, "service_unavailable", "The database is unavailable; try again shortly.")

    @app.exception_handler(DataError)
    async def _bad_value(request: Request, exc: DataError) -> Response:
        # The database refused a value the request carried (a NUL byte in text, an integer beyond its column):
        # the input's fault, so a 422 saying so, not a 500. Logged: a route should have validated it first.
        import logging

        reason = str(exc.orig or exc).splitlines()[0][:200]
        logging.getLogger("tuneloop").warning("database refused a value on %s %s: %s", request.method,
                                              request.url.path, reason)
        return _render(request, 422, "validation_error", f"A value in the request cannot be stored or compared: "
                       f"{reason}")

    @app.exception_handler(OverflowError)
    async def _too_big(request: Request, exc: OverflowError) -> Response:
        # SQLite's driver raises it for an integer beyond 64 bits (an id no row can have); PostgreSQL's is a DataError.
        return _render(request, 422, "validation_error", f"A number in the request is out of range: {exc}")

    @app.exception_handler(PoolTimeoutError)
    async def _pool(request: Request, exc: PoolTimeoutError) -> Response:
        return _render(request, 503, "service_unavailable", "The database is busy; try again shortly.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        import logging

        logging.getLogger("tuneloop").exception("unhandled error on %s %s", request.method, request.url.path)
        return _render(request, 500, "internal_error", "Something went wrong on our side; it has been logged.")
