"""Job engine overhead: 10,000 prompts through a whole answer job vs the same requests from bare async clients.

A stub OpenAI-compatible server in its own process answers at once. The bare clients send the 10,000 chat
requests at the same concurrency and keep nothing: httpx (the OpenAI SDK's client, what a hand-written script
uses) and aiohttp (the library the engine's own client is built on, so the floor of any client's cost). The
engine runs a real answer job on a fresh database: it plans the items, hashes each request, looks for stored
answers, sends, stores every answer, handles it (a candidate per answer), and keeps the counts. All run in the
same process tree, one after the other; the ratios are what matter on a noisy machine. Target: the engine
reaches at least 0.8 of the bare rate.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.ingest import ROOT, _fresh_pg

CONCURRENCY = 8
STUB = """
import sys, time
sys.path.insert(0, {root!r})
from tests.support.openai_server import ScriptedServer
server = ScriptedServer().__enter__()
print(server.url, flush=True)
while True:
    time.sleep(3600)
"""


def _stub() -> tuple[subprocess.Popen, str]:
    """The stub server in a process of its own (its own interpreter lock), and its URL."""
    proc = subprocess.Popen([sys.executable, "-c", STUB.format(root=str(ROOT))], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError("the stub server did not start")
    return proc, url


def _prompts(n: int) -> list[str]:
    return [f"Write one sentence about item {i} of the benchmark." for i in range(n)]


async def _bare(url: str, prompts: list[str]) -> float:
    """Seconds for a bare httpx client to send every prompt at CONCURRENCY and parse each answer."""
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def one(text: str) -> None:
            async with gate:
                resp = await client.post(f"{url}/chat/completions", json={
                    "model": "teacher", "messages": [{"role": "user", "content": text}], "temperature": 0,
                    "max_tokens": 64})
                resp.raise_for_status()
                resp.json()["choices"][0]["message"]["content"]

        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts))
        return time.perf_counter() - started


async def _bare_aiohttp(url: str, prompts: list[str]) -> float:
    """The same with aiohttp, the library the engine's client uses: the floor of what any client can cost."""
    import aiohttp
    import orjson

    gate = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as client:
        async def one(text: str) -> None:
            async with gate:
                body = {"model": "teacher", "messages": [{"role": "user", "content": text}], "temperature": 0,
                        "max_tokens": 64}
                async with client.post(f"{url}/chat/completions", data=orjson.dumps(body),
                                       headers={"Content-Type": "application/json"}) as resp:
                    resp.raise_for_status()
                    orjson.loads(await resp.read())["choices"][0]["message"]["content"]

        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts))
        return time.perf_counter() - started


def _engine(database_url: str, stub_url: str, prompts: list[str]) -> tuple[float, dict]:
    """Seconds for a whole answer job over the prompts (plan, send, store, handle, count), and its counts."""
    os.environ["TUNELOOP_DATABASE_URL"] = database_url
    from app.cli import run_migrations
    from app.core.config import get_settings
    from app.core.db import get_engine, get_sessionmaker
    from app.jobs.runner import run_job
    from app.jobs.service import create_job
    from app.models import Backend, Instruction, Job, Project
    from app.users.service import create_user

    for cached in (get_settings, get_engine, get_sessionmaker):
        cached.cache_clear()
    run_migrations(database_url)
    with get_sessionmaker()() as session:
        user = create_user(session, email=f"bench-{secrets.token_hex(3)}@example.com", password="benchmark-pass",
                           role="admin")
        project = Project(name="Bench", slug="bench")
        session.add(project)
        session.flush()
        session.execute(Instruction.__table__.insert(), [
            {"project_id": project.id, "instruction": p, "content_hash": str(i), "input": "", "system": "",
             "history": [], "split": "train", "source": "", "metadata": {}, "status": "pending"}
            for i, p in enumerate(prompts)])
        session.add(Backend(name="teacher", kind="openai", base_url=stub_url, model="teacher",
                            limits={"max_concurrency": CONCURRENCY}))
        session.flush()
        job = create_job(session, user=user, project_slug="bench", kind_name="answer",
                         params={"backend": "teacher", "temperature": 0, "max_tokens": 64,
                                 "filter": {"limit": len(prompts)}})
        session.commit()
        job_id = job.id
    started = time.perf_counter()
    run_job(job_id)
    seconds = time.perf_counter() - started
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        counts = {"status": job.status.value, "done": job.items_done, "failed": job.items_failed,
                  "candidates": job.result.get("candidates_added")}
    get_engine().dispose()
    return seconds, counts


def run(quick: bool = False, extra: list[str] | None = None) -> dict:
    n = 1000 if quick else 10_000
    prompts = _prompts(n)
    stub, url = _stub()
    results: dict = {"prompts": n, "concurrency": CONCURRENCY}
    try:
        with tempfile.TemporaryDirectory(prefix="tuneloop-bench-jobs-") as tmp:
            os.environ["TUNELOOP_DATA_DIR"] = str(Path(tmp) / "var")
            for name in ("sqlite", "postgresql"):
                bare = asyncio.run(_bare(url, prompts))
                floor = asyncio.run(_bare_aiohttp(url, prompts))
                if name == "sqlite":
                    db_url, drop = f"sqlite:///{Path(tmp) / 'bench.db'}", (lambda: None)
                else:
                    db_url, drop = _fresh_pg()
                try:
                    seconds, counts = _engine(db_url, url, prompts)
                finally:
                    drop()
                results[name] = {"bare_rps": round(n / bare, 1), "bare_aiohttp_rps": round(n / floor, 1),
                                 "engine_rps": round(n / seconds, 1), "ratio": round(bare / seconds, 3),
                                 "ratio_aiohttp": round(floor / seconds, 3), "engine": counts}
                print(f"{name}: bare httpx {n / bare:.0f} req/s, bare aiohttp {n / floor:.0f} req/s, engine "
                      f"{n / seconds:.0f} req/s (ratio {bare / seconds:.2f} to httpx, {floor / seconds:.2f} to "
                      f"aiohttp) {counts}", flush=True)
    finally:
        stub.kill()
    return results
