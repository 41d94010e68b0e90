"""Shared fixtures: real SQLite and PostgreSQL databases, real Redis and SQLite brokers, real workers.

Database tests use the `db` fixture (a session inside a transaction rolled back after the test) and the
`client` fixture (the app with its session dependency bound to that same transaction). Both run once per
backend. Tests that need committed data seen by another process (a worker) use `live`.
With CI=true a missing PostgreSQL, Redis or Chromium fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
_TMP = Path(tempfile.mkdtemp(prefix="tuneloop-tests-"))
# Before anything imports the app: settings read these once.
os.environ["TUNELOOP_DATA_DIR"] = str(_TMP / "var")
os.environ.setdefault("TUNELOOP_SECRET_KEY", "test-secret-key")
os.environ.setdefault("TUNELOOP_LOGIN_RATE_LIMIT", "1000/minute")
os.environ.pop("TUNELOOP_DATABASE_URL", None)
os.environ.pop("TUNELOOP_BROKER_URL", None)

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TUNELOOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_HOST_URL = os.environ.get("TUNELOOP_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def unavailable(what: str, why: str) -> None:
    """Skip locally, fail in CI: CI must never pass by skipping what it is meant to test."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def reset_app_caches() -> None:
    from app.core.config import get_settings
    from app.core.db import get_engine, get_sessionmaker
    from app.core.queue import get_celery
    from app.system.service import reset_cache

    if get_engine.cache_info().currsize:
        get_engine().dispose()
    for cached in (get_settings, get_engine, get_sessionmaker, get_celery):
        cached.cache_clear()
    reset_cache()


# ---------------------------------------------------------------- databases

def _postgres_available() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    problem = _postgres_available()
    if problem:
        unavailable("PostgreSQL", problem)
    name = f"tuneloop_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url() -> str:
    path = _TMP / "sqlite" / "tuneloop.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    _migrate(url)
    return url


def _migrate(url: str) -> None:
    from app.cli import run_migrations

    run_migrations(url)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    from app.core.db import make_engine

    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: sa.Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test; commits inside it become savepoints."""
    conn = engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()
    if trans.is_active:
        trans.rollback()
    conn.close()


@pytest.fixture
def app(db: Session):
    from app.core.db import get_session
    from app.main import create_app
    from app.users.ratelimit import reset

    reset()
    application = create_app()

    def _test_session():
        try:
            yield db
            db.commit()
        except Exception:
            db.rollback()
            raise

    application.dependency_overrides[get_session] = _test_session
    return application


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# ---------------------------------------------------------------- users and auth

@pytest.fixture
def make_user(db: Session):
    from app.users.service import create_user

    def _make(role: str = "annotator", email: str | None = None, password: str = "correct horse battery"):
        email = email or f"{role}-{secrets.token_hex(4)}@example.com"
        user = create_user(db, email=email, password=password, role=role, name=role.capitalize())
        db.flush()
        return user

    return _make


@pytest.fixture
def token_for(db: Session):
    from app.users.service import create_token

    def _token(user) -> dict[str, str]:
        issued = create_token(db, user=user, name="test")
        db.flush()
        return {"Authorization": f"Bearer {issued.secret}"}

    return _token


@pytest.fixture
def admin_headers(make_user, token_for) -> dict[str, str]:
    return token_for(make_user("admin"))


def login(client, email: str, password: str = "correct horse battery") -> None:
    """Sign in through the real form, CSRF token included, as a browser would."""
    import re

    page = client.get("/login")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    resp = client.post("/login", data={"email": email, "password": password, "csrftoken": token},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text


def csrf_from(client) -> str:
    import re

    page = client.get("/")
    return re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)


# ---------------------------------------------------------------- committed ("live") mode and workers

def _truncate_all(url: str) -> None:
    from app.core.db import make_engine
    from app.models import Base

    eng = make_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with eng.begin() as conn:
        if url.startswith("postgresql"):
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))
    eng.dispose()


@pytest.fixture
def live(database_url: str, monkeypatch) -> Iterator[str]:
    """The app's own engine pointed at the test database, committing for real; tables emptied after."""
    monkeypatch.setenv("TUNELOOP_DATABASE_URL", database_url)
    reset_app_caches()
    yield database_url
    reset_app_caches()
    _truncate_all(database_url)


def _redis_available() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_HOST_URL, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:
        return str(exc)


@pytest.fixture(scope="session")
def redis_broker_url() -> str:
    problem = _redis_available()
    if problem:
        unavailable("Redis", problem)
    # A database of its own per session, so parallel test sessions never take each other's tasks: under xdist
    # one per worker (gw0 → 1, gw1 → 2, ...), never shared; a lone session picks one at random.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) % 14 + 1 if worker.startswith("gw") and worker[2:].isdigit() else secrets.randbelow(14) + 1
    return f"{REDIS_HOST_URL}/{index}"


@pytest.fixture(scope="session")
def sqlite_broker_url() -> str:
    return f"sqla+sqlite:///{_TMP / f'broker-{secrets.token_hex(3)}.db'}"


@pytest.fixture(params=["redis", "sqlite"])
def broker_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_broker_url")


class WorkerProcess:
    def __init__(self, env: dict[str, str], queues: str, pool: str, concurrency: int = 1) -> None:
        self.log = _TMP / f"worker-{secrets.token_hex(3)}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--queues", queues, "--pool", pool, "--concurrency",
             str(concurrency),
             "--loglevel", "info"],
            env=env, cwd=ROOT, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


@pytest.fixture
def start_worker(live: str, broker_url: str, monkeypatch):
    """Start real `tuneloop worker` processes on the test database and broker; stopped after the test."""
    monkeypatch.setenv("TUNELOOP_BROKER_URL", broker_url)
    reset_app_caches()
    started: list[WorkerProcess] = []

    def _start(queues: str = "default,training", pool: str = "solo", concurrency: int = 1) -> WorkerProcess:
        env = {**os.environ, "TUNELOOP_DATABASE_URL": live, "TUNELOOP_BROKER_URL": broker_url,
               "PYTHONUNBUFFERED": "1"}
        worker = WorkerProcess(env, queues, pool, concurrency)
        started.append(worker)
        return worker

    yield _start
    for worker in started:
        worker.stop()
    _purge_broker(broker_url)


def _purge_broker(url: str) -> None:
    if url.startswith("redis"):
        import redis

        redis.Redis.from_url(url).flushdb()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, message: str | Callable[[], str] = "condition"):
    """Poll until predicate() is truthy; fail with `message` after `timeout` seconds (a callable message is read
    then, so it can show a log as it stands at the failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g} s waiting for {message() if callable(message) else message}")


@pytest.fixture(scope="session")
def model_server(database_url):
    """A real model server on the session's test database, started once per database."""
    from tests.support.model_server import ModelServer

    server = ModelServer(database_url)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the shared data folder is missing: {SHARED_DATA}")
    return SHARED_DATA


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_TMP, ignore_errors=True)


# The deployments people run: SQLite with its SQLite broker (`make run`), PostgreSQL with Redis (compose). A test
# over both databases and both brokers runs those two pairs; the mixed pairs add minutes to every run and exercise
# nothing the two pairs do not (the database and the broker never talk to each other).
DEPLOYED_PAIRS = {("sqlite", "sqlite"), ("postgresql", "redis")}


def _param(item: pytest.Item, name: str) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(name) if callspec is not None else None


def _kept(item: pytest.Item) -> bool:
    database, broker = _param(item, "database_url"), _param(item, "broker_url")
    if database and broker and (database, broker) not in DEPLOYED_PAIRS:
        return False
    # `@pytest.mark.one_database("postgresql")`: a slow test whose subject is not the database (a trainer killed,
    # a run cancelled) runs on one of them; the module's other tests cover both.
    # Browser tests name the database through their `server` fixture's parameter.
    database = database or _param(item, "server")
    marker = item.get_closest_marker("one_database")
    return not (marker and database and database != marker.args[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    dropped = [item for item in items if not _kept(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if _kept(item)]
