"""Faults at the foundation: PostgreSQL going away under the API, Redis restarting with jobs queued.

The shared PostgreSQL and Redis are never touched: the database is reached through a TCP proxy this test
cuts and restores, and the broker is a redis-server of the test's own, with append-only persistence on
(as docker-compose.yml configures production) so queued messages survive its restart.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import WorkerProcess, _truncate_all, reset_app_caches, unavailable, wait_for
from tests.reliability.conftest import assert_error_shape

N_PINGS = int(os.environ.get("TUNELOOP_FAULT_PINGS", "20"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TcpProxy:
    """A TCP proxy on its own event loop thread; cut() drops every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.up = True
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()  # the database is "down": the connection is refused at once
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    def cut(self) -> None:
        def _cut() -> None:
            self.up = False
            for w in list(self.writers):
                w.transport.abort()  # a reset, as when the server dies

        self.loop.call_soon_threadsafe(_cut)
        time.sleep(0.2)

    def restore(self) -> None:
        self.loop.call_soon_threadsafe(setattr, self, "up", True)
        time.sleep(0.1)

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _admin_token(url: str) -> str:
    """An admin and a token, committed on the real database (as `tuneloop user/token create` would)."""
    from sqlalchemy.orm import Session

    from app.core.db import make_engine
    from app.users.service import create_token, create_user

    engine = make_engine(url)
    with Session(engine) as session:
        admin = create_user(session, email=f"fault-{secrets.token_hex(3)}@example.com", password="correct horse",
                            role="admin")
        secret = create_token(session, user=admin, name="faults").secret
        session.commit()
    engine.dispose()
    return secret


def _count(url: str, project_slug: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM instructions i JOIN projects p ON p.id = i.project_id "
                                 "WHERE p.slug = :s"), {"s": project_slug}).scalar_one()
    engine.dispose()
    return n


@pytest.fixture
def proxied_postgres(postgresql_url: str, monkeypatch):
    """The app's engine on the test database through a proxy it can lose; tables emptied after."""
    url = sa.engine.make_url(postgresql_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    via_proxy = url.set(host="127.0.0.1", port=proxy.port, query={"connect_timeout": "3"})
    monkeypatch.setenv("TUNELOOP_DATABASE_URL", via_proxy.render_as_string(hide_password=False))
    monkeypatch.setenv("TUNELOOP_HEALTH_WORKER_TIMEOUT_S", "0.3")
    reset_app_caches()
    yield proxy
    proxy.close()
    reset_app_caches()
    _truncate_all(postgresql_url)


def _batch(prefix: str, n: int = 20) -> dict:
    return {"items": [{"external_id": f"{prefix}-{i}", "instruction": f"{prefix} item {i}",
                       "candidates": [{"text": "an answer"}]} for i in range(n)]}


def test_postgres_down_answers_503_then_recovers_without_losing_writes(proxied_postgres, postgresql_url):
    from app.main import create_app

    proxy = proxied_postgres
    headers = {"Authorization": f"Bearer {_admin_token(postgresql_url)}"}
    client = TestClient(create_app(), raise_server_exceptions=False)
    slug = f"faults-{secrets.token_hex(3)}"
    assert client.post("/api/v1/projects", json={"name": "Faults", "slug": slug}, headers=headers).status_code == 201
    ingest = f"/api/v1/projects/{slug}/instructions"
    before = client.post(ingest, json=_batch("before"), headers=headers)
    assert before.status_code == 200, before.text
    assert before.json()["created"] == 20

    proxy.cut()
    for method, path, body in [("GET", "/api/v1/me", None), ("GET", f"/api/v1/projects/{slug}", None),
                               ("POST", ingest, _batch("during")), ("GET", f"{ingest}?limit=5", None)]:
        resp = client.request(method, path, json=body, headers=headers)
        err = assert_error_shape(resp, 503)
        assert err["code"] == "service_unavailable" and "database" in err["message"].lower(), err
    health = client.get("/api/v1/health")
    assert health.status_code == 503 and health.json()["database"].startswith("unavailable"), health.text
    pages = client.get("/", headers={"accept": "text/html", **headers}, follow_redirects=False)
    assert pages.status_code == 503 and "<html" in pages.text.lower()  # the browser gets a page, not JSON

    proxy.restore()
    # The same process, no restart: the pool's pre-ping replaces the dead connections.
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    after = client.post(ingest, json=_batch("after"), headers=headers)
    assert after.status_code == 200 and after.json()["created"] == 20, after.text
    assert client.post(ingest, json=_batch("before"), headers=headers).json()["unchanged"] == 20
    # Accepted writes are all there; the refused one left nothing behind.
    assert _count(postgresql_url, slug) == 40
    listed = client.get(f"{ingest}?limit=500", headers=headers).json()
    ids = {it["external_id"] for it in listed["items"]}
    assert ids == {f"before-{i}" for i in range(20)} | {f"after-{i}" for i in range(20)}


# ---------------------------------------------------------------- Redis restart with queued jobs

class RedisServer:
    """A redis-server of the test's own, persisting to an append-only file in `directory`."""

    def __init__(self, directory: Path, appendonly: bool = True) -> None:
        self.directory = directory
        self.appendonly = appendonly
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no",
             "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=(self.directory / "redis.log").open("a"), stderr=subprocess.STDOUT)
        import redis

        wait_for(lambda: self._ping(redis), timeout=15, message="the test's redis-server to answer")

    def _ping(self, redis) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.exceptions.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes the append-only file and exits
            self.proc.wait(20)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        unavailable("redis-server", "not on PATH")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_restart_loses_no_queued_job(live, own_redis, monkeypatch):
    import redis
    from sqlalchemy import select

    from app.core.db import get_sessionmaker
    from app.core.queue import send_task
    from app.models import WorkerPing
    from app.system.service import PING_TASK

    monkeypatch.setenv("TUNELOOP_BROKER_URL", own_redis.url)
    reset_app_caches()
    nonces = [f"fault-{secrets.token_hex(8)}" for _ in range(N_PINGS)]
    for nonce in nonces:
        send_task(PING_TASK, nonce)  # no worker runs yet: they wait in the queue
    queued = redis.Redis.from_url(own_redis.url).llen("default")
    assert queued == N_PINGS, f"{queued} messages queued, expected {N_PINGS}"

    own_redis.stop()
    own_redis.start()
    assert redis.Redis.from_url(own_redis.url).llen("default") == N_PINGS, "the restart lost queued messages"

    env = {**os.environ, "TUNELOOP_DATABASE_URL": live, "TUNELOOP_BROKER_URL": own_redis.url,
           "PYTHONUNBUFFERED": "1"}
    worker = WorkerProcess(env, "default", "solo")
    try:
        factory = get_sessionmaker()

        def answered() -> int:
            if worker.proc.poll() is not None:  # a worker that cannot start is a failure now, not in 90 s
                pytest.fail(f"the worker exited ({worker.proc.returncode}):\n{worker.output()[-3000:]}")
            with factory() as session:
                return len(session.scalars(select(WorkerPing.nonce).where(WorkerPing.nonce.in_(nonces))).all())

        wait_for(lambda: answered() == N_PINGS, timeout=90,
                 message=f"all {N_PINGS} queued pings to run after the restart ({answered()} ran)")
        with factory() as session:
            rows = session.scalars(select(WorkerPing.nonce).where(WorkerPing.nonce.in_(nonces))).all()
        assert sorted(rows) == sorted(nonces)  # each exactly once
    finally:
        worker.stop()


def test_the_restart_is_real_a_redis_without_persistence_loses_the_queue(tmp_path):
    """The counter-check: the same restart without append-only persistence empties the queue."""
    import redis

    if shutil.which("redis-server") is None:
        unavailable("redis-server", "not on PATH")
    server = RedisServer(tmp_path, appendonly=False)
    server.start()
    try:
        redis.Redis.from_url(server.url).rpush("default", *[f"job-{i}" for i in range(N_PINGS)])
        server.stop()
        server.start()
        assert redis.Redis.from_url(server.url).llen("default") == 0
    finally:
        server.stop()
