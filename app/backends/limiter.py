"""Limits shared by every worker: concurrent requests, requests and tokens per minute, per backend.

A request holds a *lease* while it is in flight (at most `max_concurrency` leases per backend, all workers
together) and leaves a *hit* when it is sent (at most `rpm` hits, and `tpm` estimated tokens, in any 60 s).
The store is Redis when the broker is Redis (limiter_redis.py), the database otherwise (limiter_db.py); both are
asked from a thread, so the event loop that sends requests never blocks on them.

A lease is renewed while its request runs and expires LEASE_TTL_S after its worker was killed, so a crash
never keeps a slot for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Protocol

from app.backends.config import BackendConfig
from app.backends.requests import BackendError

log = logging.getLogger("tuneloop.backends")
WINDOW_S = 60.0  # rpm and tpm are per minute
LEASE_TTL_S = 30.0  # a lease nobody renews (its worker died) frees its slot after this
POLL_MIN_S = 0.02  # waiting for a free slot: first poll, doubling up to POLL_MAX_S
POLL_MAX_S = 0.5


class Limiter(Protocol):
    def slot(self, config: BackendConfig, tokens: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait until the backend has room for one more request of about `tokens` tokens; hold it while inside."""
        ...


class NoLimiter:
    """No shared limit: only the client's own connection pool bounds concurrency."""

    @contextlib.asynccontextmanager
    async def slot(self, config: BackendConfig, tokens: int) -> AsyncIterator[None]:
        yield


class SharedLimiter(ABC):
    """Leases and hits in a store every worker sees; subclasses say how one attempt to take a slot goes."""

    def __init__(self, window_s: float = WINDOW_S, lease_ttl_s: float = LEASE_TTL_S) -> None:
        # Tests shorten both, to watch windows roll over and a dead worker's lease expire.
        self.window_s = window_s
        self.lease_ttl_s = lease_ttl_s

    @abstractmethod
    def try_acquire(self, config: BackendConfig, tokens: int, holder: str) -> float | None:
        """Take a lease (and a hit) for `holder` and return None, or return how long to wait before asking again."""

    @abstractmethod
    def renew(self, name: str, holder: str) -> None:
        """Push the lease's expiry lease_ttl_s ahead: its request is still running."""

    @abstractmethod
    def release(self, name: str, holder: str) -> None:
        """Give the lease back (the hit stays until its window has passed)."""

    @contextlib.asynccontextmanager
    async def slot(self, config: BackendConfig, tokens: int) -> AsyncIterator[None]:
        tpm = config.limits.tpm
        if tpm is not None and tokens > tpm:
            raise BackendError(f"This request needs about {tokens:,} tokens (prompt and max_tokens), more than "
                               f"backend '{config.name}' may use in a minute (tpm {tpm:,}); lower max_tokens or "
                               "raise the limit.")
        holder = uuid.uuid4().hex
        poll = POLL_MIN_S
        while (wait := await self._ask(config, tokens, holder)) is not None:
            # Jitter spreads the waiters of every worker, so they do not all ask again at the same instant.
            await asyncio.sleep(max(wait, poll) * random.uniform(1.0, 1.25))
            poll = min(poll * 2, POLL_MAX_S)
        keeper = asyncio.create_task(self._keep(config.name, holder))
        try:
            yield
        finally:
            keeper.cancel()
            try:
                await asyncio.to_thread(self.release, config.name, holder)
            except Exception:  # the answer (or its error) matters more; the lease expires on its own
                log.warning("backend %s: could not give a lease back; it expires within %g s", config.name,
                            self.lease_ttl_s, exc_info=True)

    async def _ask(self, config: BackendConfig, tokens: int, holder: str) -> float | None:
        try:
            return await asyncio.to_thread(self.try_acquire, config, tokens, holder)
        except Exception as exc:  # the store is down or busy: retried with backoff like a failed request
            raise BackendError(f"The shared rate limit for backend '{config.name}' could not be checked "
                               f"({type(exc).__name__}: {exc}).", retryable=True) from exc

    async def _keep(self, name: str, holder: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl_s / 3)
            try:
                await asyncio.to_thread(self.renew, name, holder)
            except Exception:
                log.warning("backend %s: could not renew a lease", name, exc_info=True)


@lru_cache(maxsize=4)
def _redis_limiter(url: str) -> SharedLimiter:
    from app.backends.limiter_redis import RedisLimiter

    return RedisLimiter(url)


def shared_limiter() -> Limiter:
    """The limiter every worker of this installation shares (Redis with a Redis broker, else the database)."""
    from app.core.config import get_settings

    url = get_settings().broker_url
    if url.startswith(("redis://", "rediss://")):
        return _redis_limiter(url)
    from app.backends.limiter_db import DatabaseLimiter

    return DatabaseLimiter()
