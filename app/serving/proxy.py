"""Forwarding a validated request to the model server (httpx, async), its stream passed through as it comes."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from app.core.config import get_settings
from app.serving.errors import OpenAIError
from app.serving.internal import internal_headers, model_server_display, model_server_url


def _unavailable(reason: str) -> OpenAIError:
    return OpenAIError(503, f"The model server at {model_server_display()} {reason}. `tuneloop serve` starts it beside "
                       "the workers; `tuneloop model serve` starts it alone.", code="model_server_unavailable")


async def forward(path: str, body: dict[str, Any], *, stream: bool) -> Response:
    """POST `body` to the model server's `path`; its answer (status, JSON or server-sent events) as it is."""
    timeout = httpx.Timeout(get_settings().model_server_timeout_s, connect=5.0)
    # One client per request: the web app may run requests on different event loops (tests, several workers).
    client = httpx.AsyncClient(timeout=timeout)
    try:
        request = client.build_request("POST", model_server_url() + path, content=orjson.dumps(body),
                                       headers={"Content-Type": "application/json", **internal_headers()})
        upstream = await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        await client.aclose()
        raise _unavailable(f"did not answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        await client.aclose()
        raise _unavailable(f"is not answering ({type(exc).__name__})") from exc

    async def close() -> None:
        await upstream.aclose()
        await client.aclose()

    media_type = upstream.headers.get("content-type", "application/json")
    if stream and upstream.status_code == 200:
        return StreamingResponse(upstream.aiter_raw(), media_type=media_type, background=BackgroundTask(close),
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    try:
        content = await upstream.aread()
    except httpx.HTTPError as exc:
        raise _unavailable(f"broke off its answer ({type(exc).__name__})") from exc
    finally:
        await close()
    return Response(content, status_code=upstream.status_code, media_type=media_type)
