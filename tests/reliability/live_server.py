"""A real uvicorn server (several worker processes) on a test database, with committed users and tokens.

The load and soak tests talk to it over HTTP from threads in the test process, as clients would, and read
the memory of its worker processes from /proc.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT

MODELS = ["davinci", "text-davinci-001", "text-davinci-002", "davinci-superni-ft", "davinci-t0-ft"]


def load_tasks(shared_data: Path) -> list[dict[str, Any]]:
    """The 252 user-oriented Self-Instruct tasks, each with its five models' responses as (model, text)."""
    base = shared_data / "self-instruct"
    tasks = [json.loads(line) for line in (base / "user_oriented_instructions.jsonl").read_text().splitlines()]
    for model in MODELS:
        lines = (base / "predictions" / f"{model}.jsonl").read_text().splitlines()
        for task, line in zip(tasks, lines, strict=True):
            task.setdefault("responses", []).append((model, json.loads(line)["response"] or "(empty response)"))
    return tasks


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen
    log: Path

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes: the children of its supervisor that serve requests."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:  # the process ended while we looked
                continue
            # The command name may hold spaces or parentheses: the fields after the last ")" are fixed.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            # multiprocessing's resource tracker is a child too; it serves nothing.
            if ppid == self.proc.pid and b"resource_tracker" not in cmdline:
                pids.append(int(entry.name))
        return sorted(pids)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""


def rss_kib(pid: int) -> int | None:
    """Resident memory of one process (VmRSS, KiB), or None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(database_url: str, tmp: Path, *, workers: int = 2) -> Iterator[LiveServer]:
    """`uvicorn app.main:create_app --factory --workers N` on database_url until the block ends."""
    port = _free_port()
    log = tmp / "server.log"
    env = {**os.environ, "TUNELOOP_DATABASE_URL": database_url, "TUNELOOP_DATA_DIR": str(tmp / "var"),
           "TUNELOOP_SECRET_KEY": "load-test-secret", "TUNELOOP_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.db'}",
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--log-level", "info", "--no-access-log"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    server = LiveServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        _wait_ready(server, workers)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def _wait_ready(server: LiveServer, workers: int) -> None:
    # Every worker must be up (each logs its startup): a test that starts while one still imports would
    # measure the import, and the memory series would start mid-import.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        try:
            ok = httpx.get(f"{server.url}/login", timeout=5).status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok and server.log.read_text(errors="replace").count("Application startup complete") >= workers:
            return
        time.sleep(0.3)
    server.proc.kill()
    pytest.fail(f"the server did not start:\n{server.output()}")


def add_users(database_url: str, roles: list[str]) -> list[tuple[int, str]]:
    """Committed users of the given roles, one API token each; answers (user id, token secret) in order."""
    from sqlalchemy.orm import Session

    from app.core.db import make_engine
    from app.users.service import create_token
    from tests.reliability.conftest import quick_user

    engine = make_engine(database_url)
    out = []
    try:
        with Session(engine) as session:
            for role in roles:
                user = quick_user(session, role)
                issued = create_token(session, user=user, name=f"load-{secrets.token_hex(2)}")
                out.append((user.id, issued.secret))
            session.commit()
    finally:
        engine.dispose()
    return out
