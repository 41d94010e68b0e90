"""Helpers for tests that run a real worker: committed setup and an API client on the live database."""

from __future__ import annotations

import os
import time

from fastapi.testclient import TestClient


def live_setup(fmt: str = "sft-messages"):
    """A committed admin with a token, a project and a snapshot on the live database."""
    from app.core.db import get_sessionmaker
    from app.users.service import create_token, create_user
    from tests.tuning.conftest import make_project, make_snapshot

    with get_sessionmaker()() as session:
        admin = create_user(session, email="admin@example.com", password="correct horse battery", role="admin")
        session.flush()
        token = create_token(session, user=admin, name="t").secret
        project = make_project(session)
        export = make_snapshot(session, project, fmt)
        session.commit()
        return {"Authorization": f"Bearer {token}"}, project, export


def client():
    from app.main import create_app

    return TestClient(create_app(), raise_server_exceptions=False)


def wait_run(api, headers, run_id, predicate, timeout=300.0, message="run state"):
    """Poll the run over the API until predicate(run) holds; fail with the last state seen."""
    deadline = time.monotonic() + timeout
    run = {}
    while time.monotonic() < deadline:
        run = api.get(f"/api/v1/tuning-runs/{run_id}", headers=headers).json()
        if predicate(run):
            return run
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {message}; last seen: {run}")


def events(api, headers, run_id, kind=None):
    items = api.get(f"/api/v1/tuning-runs/{run_id}/events", headers=headers).json()
    return [e for e in items if kind is None or e["event"] == kind]


def is_zombie(pid: int) -> bool:
    """True when the process is gone or only waits to be reaped by its parent."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def child_process(parent: int, word: str) -> int | None:
    """The pid of a child process of `parent` whose command line holds `word`, if there is one."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().split(")")[-1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().split(b"\0")
        except OSError:
            continue
        if ppid == parent and word.encode() in command:
            return int(entry)
    return None


def wait_ready(worker, timeout: float = 120.0) -> None:
    """Wait for a worker to finish starting, for tests whose timing starts at the task (a kill, a frozen step).
    Sending before that is fine: tests/core/test_sqlite_broker.py covers processes starting on a new broker."""
    from tests.conftest import wait_for

    wait_for(lambda: " ready." in worker.output(), timeout=timeout, interval=0.2, message="the worker to start")
