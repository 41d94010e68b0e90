"""ASGI middleware: request body limit and CSRF protection, both answering in the API's error shape."""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie

import orjson
from asgi_csrf import asgi_csrf
from itsdangerous import BadSignature, URLSafeSerializer
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
        self.signer = URLSafeSerializer(secret)
        self.app = asgi_csrf(app, signing_secret=secret, cookie_secure=secure, cookie_samesite="Lax",
                             send_csrf_failed=_csrf_failed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _needs_multipart_token(scope):
            # asgi-csrf's own multipart reader does not work with current python-multipart, so a form upload
            # without JavaScript has its token read here and passed on as the header asgi-csrf checks first.
            token, receive = await _token_from_multipart(scope, receive)
            if token is None or not self._genuine(token, _cookie(scope, "csrftoken")):
                await _csrf_failed(scope, send, None)
                return
            scope = {**scope, "headers": [*scope["headers"], (b"x-csrftoken", token.encode("latin-1"))]}
        await self.app(scope, receive, send)

    def _genuine(self, token: str, cookie: str) -> bool:
        try:
            self.signer.loads(cookie, "csrftoken")  # asgi-csrf's signing namespace
        except BadSignature:
            return False
        return secrets.compare_digest(token, cookie)


def _cookie(scope: Scope, name: str) -> str:
    jar = SimpleCookie()
    jar.load(dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1"))
    return jar[name].value if name in jar else ""


def _needs_multipart_token(scope: Scope) -> bool:
    if scope["method"] in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return False
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    return (content_type == b"multipart/form-data" and b"cookie" in headers and b"x-csrftoken" not in headers
            and not headers.get(b"authorization", b"").startswith(b"Bearer "))


async def _token_from_multipart(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """Read the body up to the `csrftoken` field (it must come before any file); replay what was read."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(dict(scope["headers"]).get(b"content-type", b""))
    boundary = params.get(b"boundary")
    messages: list[Message] = []
    state = {"name": None, "value": b"", "found": None, "done": False}

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value = data[start:end]
        if b"name=" in value:
            _, opts = parse_options_header(value)
            state["name"] = opts.get(b"name")
            if b"filename" in opts and state["found"] is None:
                state["done"] = True  # a file before the token: refuse rather than buffer the upload

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["name"] == b"csrftoken":
            state["value"] += data[start:end]

    def on_part_end() -> None:
        if state["name"] == b"csrftoken":
            state["found"] = state["value"].decode("latin-1")
            state["done"] = True

    if boundary:
        parser = MultipartParser(boundary, {"on_header_value": on_header_value, "on_part_data": on_part_data,
                                            "on_part_end": on_part_end})
        more = True
        while more and not state["done"]:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            parser.write(message.get("body", b""))
            more = message.get("more_body", False)

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return state["found"], replay
