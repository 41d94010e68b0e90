"""Browser-test harness: a real uvicorn server on a fresh migrated database (SQLite and PostgreSQL), the
Self-Instruct user-oriented instructions with five models' candidates as data, and headless Chromium.

Fixtures: `server` (base URL, database URL, a committed session factory; one per backend, per module),
`browser` (one Chromium per test session), `page` (a fresh context per test; a screenshot goes to
test-artifacts/ when the test fails), `new_page()` for tests that need a second user; helpers
`add_user(server)` and `sign_in(page, server, email)`.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import PG_ADMIN_URL, ROOT, SHARED_DATA, _postgres_available, unavailable
from tests.tuning.conftest import tiny_model  # noqa: F401 - the tiny model, built once, for the flows that train

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "correct horse battery"
# One secret for the web, the workers and the model server, as one deployment shares it: the web's calls to the
# model server (a backend's test) are signed with it.
SECRET_KEY = "browser-test-secret"
MODELS = ["davinci", "text-davinci-001", "text-davinci-002", "davinci-superni-ft", "davinci-t0-ft"]


@dataclass
class Server:
    url: str
    database_url: str
    sessions: sessionmaker[Session]
    log: Path
    model_server_url: str  # where `model_server` starts Tuneloop's model server, known to the web from the start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_database(kind: str, tmp: Path) -> tuple[str, callable]:
    from app.cli import run_migrations

    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'browser.db'}"
        run_migrations(url)
        return url, lambda: None
    problem = _postgres_available()
    if problem:
        unavailable("PostgreSQL", problem)
    name = f"tuneloop_browser_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    run_migrations(url)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def load_user_oriented(session: Session, *, slug: str, name: str, guidelines: str = "",
                       settings: dict | None = None) -> int:
    """The 252 user-oriented Self-Instruct tasks, each with its five models' responses as candidates,
    loaded through the real importer (tasks first, then each model's predictions file)."""
    from sqlalchemy import delete

    from app.imports.service import import_file
    from app.models import Candidate, CandidateOrigin, Instruction, Project

    base = SHARED_DATA / "self-instruct"
    project = Project(name=name, slug=slug, guidelines=guidelines, settings=settings or {})
    session.add(project)
    session.flush()
    import_file(session, project=project, path=base / "user_oriented_instructions.jsonl", fmt="self-instruct")
    for model in MODELS:
        import_file(session, project=project, path=base / "predictions" / f"{model}.jsonl")
    # The task is ranking the five models; the human reference output is the evaluation key, not a candidate.
    ids = select(Instruction.id).where(Instruction.project_id == project.id)
    session.execute(delete(Candidate).where(Candidate.origin == CandidateOrigin.reference,
                                            Candidate.instruction_id.in_(ids)))
    session.flush()
    return project.id


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory) -> Iterator[Server]:
    """uvicorn serving the app on a free port against a fresh, migrated database of the given kind."""
    tmp = tmp_path_factory.mktemp(f"browser-{request.param}")
    url, drop = _fresh_database(request.param, tmp)
    from app.core.db import make_engine

    engine = make_engine(url)
    port = _free_port()
    model_server_url = f"http://127.0.0.1:{_free_port()}"
    log = tmp / "server.log"
    env = {**os.environ, "TUNELOOP_DATABASE_URL": url, "TUNELOOP_DATA_DIR": str(tmp / "var"),
           "TUNELOOP_MODEL_SERVER_URL": model_server_url,
           "TUNELOOP_SECRET_KEY": SECRET_KEY, "TUNELOOP_LOGIN_RATE_LIMIT": "1000/minute",
           "TUNELOOP_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.db'}", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "info"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    yield Server(url=base, database_url=url, sessions=sessionmaker(engine, expire_on_commit=False), log=log,
                 model_server_url=model_server_url)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    engine.dispose()
    drop()


def add_user(server: Server, role: str = "annotator") -> str:
    """A committed user; returns the e-mail (the password is PASSWORD)."""
    from app.users.service import create_user

    email = f"{role}-{secrets.token_hex(4)}@example.com"
    with server.sessions.begin() as session:
        create_user(session, email=email, password=PASSWORD, role=role, name=f"{role.title()} {email[-16:-12]}")
    return email


@pytest.fixture(scope="module")
def browser():
    # Per module, not per session: Playwright's sync API keeps an event loop running in the main thread while
    # it is open, and code that calls asyncio.run() later in the same process (the job engine) would fail.
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def new_page(browser, request):
    """Open pages in fresh contexts (separate cookies); each is screenshotted if the test fails."""
    contexts = []

    def _open():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield _open
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for n, context in enumerate(contexts):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in request.node.name)
            for m, pg in enumerate(context.pages):
                pg.screenshot(path=str(ARTIFACTS / f"{name}-{n}-{m}.png"), full_page=True)
            if "server" in request.fixturenames:
                log = request.getfixturevalue("server").log
                (ARTIFACTS / f"{name}-server.log").write_text(log.read_text(errors="replace")[-20000:])
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def sign_in(page, server: Server, email: str, next_path: str = "/") -> None:
    """Sign in through the real form."""
    page.goto(f"{server.url}/login?next={next_path}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)


@pytest.fixture
def flow_worker(server) -> Iterator[Path]:
    """A real worker on the server's database, broker and data folder, taking both the default and the training
    queue, for the whole-loop flows a user drives in the browser. Yields its log file."""
    tmp = server.log.parent
    env = {**os.environ, "TUNELOOP_DATABASE_URL": server.database_url, "TUNELOOP_DATA_DIR": str(tmp / "var"),
           "TUNELOOP_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.db'}", "PYTHONUNBUFFERED": "1",
           "TUNELOOP_SECRET_KEY": SECRET_KEY}
    log = tmp / f"flow-worker-{secrets.token_hex(3)}.log"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--queues", "default,training",
                             "--pool", "solo", "--concurrency", "1"], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    yield log
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_until(page, server: Server, path: str, done, *, timeout: float = 240.0, what: str = "the page",
               worker_log: Path | None = None) -> None:
    """Reload `path` until `done(page)` holds, as a user refreshing would; fail with the page's text and the
    worker's log tail when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(f"{server.url}{path}")
        if done(page):
            return
        if time.monotonic() > deadline:
            tail = worker_log.read_text(errors="replace")[-4000:] if worker_log else ""
            pytest.fail(f"timed out waiting for {what} at {path}:\n{page.inner_text('main')[:2000]}\n{tail}")
        time.sleep(1.0)


@pytest.fixture
def model_server(server: Server, monkeypatch) -> Iterator[Path]:
    """Tuneloop's model server on a free port, on the server's database and data folder (the secret key that
    signs the worker's calls is kept there). The worker started after this fixture finds it through the
    environment, so it must come before `flow_worker` in a test's arguments."""
    tmp = server.log.parent
    url = server.model_server_url  # the web process was told this address when it started
    monkeypatch.setenv("TUNELOOP_MODEL_SERVER_URL", url)
    env = {**os.environ, "TUNELOOP_DATABASE_URL": server.database_url, "TUNELOOP_DATA_DIR": str(tmp / "var"),
           "TUNELOOP_MODEL_SERVER_URL": url, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1",
           "TUNELOOP_SECRET_KEY": SECRET_KEY}
    log = tmp / f"model-server-{secrets.token_hex(3)}.log"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "model", "serve"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the model server did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    yield log
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


SMALL_RUN = {"learning_rate": "0.005", "max_steps": "2", "per_device_train_batch_size": "4", "max_length": "128",
             "save_steps": "2", "lora_r": "8", "lora_alpha": "16", "lora_dropout": "0"}


def train_from_form(page, server: Server, *, model: Path, worker: Path, export: str | None = None,
                    evaluate: bool = True, **settings: str) -> int:
    """A LoRA run of the tiny model started from /runs/new (on `export`, "slug:id", or the form's default
    snapshot), with SMALL_RUN's settings unless given; waits until the run page says it succeeded."""
    page.goto(f"{server.url}/runs/new")
    if export is not None:
        page.select_option("#export", export)
    page.fill("#base_model", str(model))
    page.select_option("#method", "sft-lora")
    for name, value in {**SMALL_RUN, **settings}.items():
        page.fill(f"#{name}", value)
    if not evaluate:
        page.uncheck("#eval_enabled")
    page.click("button:has-text('Validate and start')")
    page.wait_for_url(re.compile(r".*/runs/\d+$"))
    run = int(page.url.rsplit("/", 1)[-1])

    def finished(pg) -> bool:
        state = pg.inner_text("#run-state")
        assert state not in ("failed", "cancelled"), pg.inner_text("main")[:3000]
        return state == "succeeded"

    wait_until(page, server, f"/runs/{run}", finished, timeout=240, what="the tuning run", worker_log=worker)
    return run
