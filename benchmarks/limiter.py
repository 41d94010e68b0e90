"""Shared rate limit overhead: slots taken and given back per second, on each store, against no limit at all.

Every request a worker sends takes a slot of its backend's shared limit (a lease while it runs, a hit for rpm
and tpm) and gives it back. This measures that cost alone: CONCURRENCY tasks in one event loop take and
release N slots with nothing in between, with limits far above what is reached, on Redis, SQLite and
PostgreSQL, and with no limiter. Divide a backend's requests per second by these rates to see the share of
a worker's time the limit costs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

from benchmarks.ingest import _fresh_pg

CONCURRENCY = 8
REDIS_URL = os.environ.get("TUNELOOP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _slots_per_second(limiter, n: int) -> float:
    from app.backends.config import BackendConfig, Limits

    config = BackendConfig(name=f"bench-{secrets.token_hex(3)}", kind="openai", base_url="http://x/v1", model="m",
                           limits=Limits(max_concurrency=CONCURRENCY, rpm=10**6, tpm=10**9))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate, limiter.slot(config, 300):
            await asyncio.sleep(0)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - started)


def _on_database(url: str, n: int) -> float:
    os.environ["TUNELOOP_DATABASE_URL"] = url
    from app.backends.limiter_db import DatabaseLimiter
    from app.cli import run_migrations
    from app.core.config import get_settings
    from app.core.db import get_engine, get_sessionmaker

    for cached in (get_settings, get_engine, get_sessionmaker):
        cached.cache_clear()
    run_migrations(url)
    try:
        return asyncio.run(_slots_per_second(DatabaseLimiter(), n))
    finally:
        get_engine().dispose()


def run(quick: bool = False, extra: list[str] | None = None) -> dict:
    from app.backends.limiter import NoLimiter
    from app.backends.limiter_redis import RedisLimiter

    n = 300 if quick else 3000
    figures = {"slots": n, "concurrency": CONCURRENCY,
               "none": round(asyncio.run(_slots_per_second(NoLimiter(), n))),
               "redis": round(asyncio.run(_slots_per_second(RedisLimiter(REDIS_URL), n)))}
    with tempfile.TemporaryDirectory() as tmp:
        figures["sqlite"] = round(_on_database(f"sqlite:///{Path(tmp) / 'bench.db'}", n))
    pg_url, drop = _fresh_pg()
    try:
        figures["postgresql"] = round(_on_database(pg_url, n))
    finally:
        drop()
    for store in ("redis", "sqlite", "postgresql"):
        print(f"shared limit on {store}: {figures[store]:,} slots/s ({CONCURRENCY} at once; no limiter: "
              f"{figures['none']:,}/s)", flush=True)
    return figures
