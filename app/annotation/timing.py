"""Server-Timing on the annotation routes: the time spent inside the app, dependencies and commit included."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Request, Response
from fastapi.routing import APIRoute


class TimedRoute(APIRoute):
    """Adds `Server-Timing: app;dur=<ms>` so clients and the benchmark can read server-side latency."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def timed(request: Request) -> Response:
            started = time.perf_counter()
            response = await handler(request)
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
            return response

        return timed
