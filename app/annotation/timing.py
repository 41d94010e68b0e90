"""Route plumbing for annotation: admission in arrival order, Server-Timing, and row ids in paths."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from weakref import WeakKeyDictionary

from fastapi import Request, Response
from fastapi.routing import APIRoute

from app.core.bounds import RowId  # noqa: F401  (re-exported: the annotation routes import it from here)
from app.core.config import get_settings

# One gate per event loop (a test client runs each app on a loop of its own).
_gates: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(get_settings().annotation_concurrency)
    return gate


class TimedRoute(APIRoute):
    """Admits a few annotation requests at a time per process and reports `Server-Timing: queue, app`.

    Why a gate: these requests are short and CPU-bound (the GIL runs one at a time anyway). Started all at
    once under a burst they interleave and every one of them takes as long as the whole burst; admitted a
    few at a time, in arrival order, each finishes in its own service time and the burst drains at the same
    rate. `queue` is the wait for admission, `app` the time from admission to the response (dependencies,
    handler and commit): both are reported, so the wait is never hidden."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def timed(request: Request) -> Response:
            arrived = time.perf_counter()
            async with _gate():
                started = time.perf_counter()
                response = await handler(request)
                done = time.perf_counter()
            response.headers["Server-Timing"] = (
                f"queue;dur={(started - arrived) * 1000:.2f}, app;dur={(done - started) * 1000:.2f}")
            return response

        return timed
