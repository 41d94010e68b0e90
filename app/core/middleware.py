"""ASGI middleware: request body limit and CSRF protection, both answering in the API's error shape."""

from __future__ import annotations

import orjson
from asgi_csrf import asgi_csrf
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import error_body


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps(error_body(code, message))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        message = f"The request body is larger than the limit of {limit // (1024 * 1024)} MiB; send smaller batches."
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_error(send, 413, "payload_too_large", message)
            return
        seen = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal response_started
            if msg["type"] == "http.response.start":
                response_started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await _send_error(send, 413, "payload_too_large", message)


class _TooLarge(Exception):
    pass


async def _csrf_failed(scope: Scope, send: Send, message_id) -> None:
    await _send_error(send, 403, "csrf_failed",
                      "The form's security token is missing or stale. Reload the page and try again.")


class CSRFMiddleware:
    """Double-submit CSRF tokens on every unsafe request that carries cookies (bearer calls are exempt)."""

    def __init__(self, app: ASGIApp, secret: str, secure: bool) -> None:
        self.app = asgi_csrf(app, signing_secret=secret, cookie_secure=secure, cookie_samesite="Lax",
                             send_csrf_failed=_csrf_failed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
