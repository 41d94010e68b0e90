"""The engine's thread to the server's event loop: await a request's result, or iterate its deltas."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from worker.serving.params import Delta, RequestResult, SamplingParams


class Pending:
    """Requests submitted together (one per prompt), delivering into one asyncio queue."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[int, Delta | RequestResult | BaseException]] = asyncio.Queue()
        self.requests: list[Any] = []

    def submit(self, prompts: list[list[int]], params: SamplingParams) -> None:
        """Queue every prompt, or none: a prompt the engine refuses cancels those queued before it."""
        try:
            for number, ids in enumerate(prompts):
                self.requests.append(self.engine.submit(ids, params, self._sink(number)))
        except BaseException:
            self.cancel()
            raise

    def _sink(self, number: int):
        def deliver(event: Delta | RequestResult | BaseException) -> None:
            # RuntimeError: the loop is gone (the server is shutting down) and nobody is waiting.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.queue.put_nowait, (number, event))

        return deliver

    async def results(self) -> list[RequestResult]:
        """Every prompt's result, in prompt order; raises the first failure."""
        results: dict[int, RequestResult] = {}
        try:
            while len(results) < len(self.requests):
                number, event = await self.queue.get()
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, RequestResult):
                    results[number] = event
        except BaseException:
            self.cancel()
            raise
        return [results[i] for i in range(len(self.requests))]

    async def events(self) -> AsyncIterator[tuple[int, Delta | RequestResult]]:
        """Deltas as they come, then each prompt's result; raises a failure."""
        finished = 0
        try:
            while finished < len(self.requests):
                number, event = await self.queue.get()
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, RequestResult):
                    finished += 1
                yield number, event
        finally:
            if finished < len(self.requests):
                self.cancel()

    def cancel(self) -> None:
        for request in self.requests:
            self.engine.cancel(request)
