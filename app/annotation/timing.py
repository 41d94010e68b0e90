"""Route plumbing for annotation: Server-Timing (time inside the app, dependencies and commit included), ids."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Path, Request, Response
from fastapi.routing import APIRoute

# A row id in a path: out-of-range numbers are a 422, never a database overflow error.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


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
