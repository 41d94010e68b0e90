"""In Chromium, the answer job's whole life on real workers: an admin adds an OpenAI-compatible backend and tests
it, starts an answer job over 1,000 instructions, the worker is killed (SIGKILL) halfway, another worker's reaper
fails the silent job, the admin resumes it from the job page, sees the one item the server refused listed with
the server's words, retries it once the server accepts it, and every instruction is answered exactly once: the
server saw no delivered request twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Server, add_user, sign_in, wait_until
from tests.conftest import ROOT
from tests.support.openai_server import Reply, ScriptedServer, default_reply, last_user_text

pytestmark = pytest.mark.browser
QUESTIONS = 1000
KILL_AT = QUESTIONS // 2
REFUSED = "Question 7"


class Teacher:
    """A scripted server that refuses one question until told otherwise, and kills the first worker (its whole
    process group) when the KILL_AT-th request arrives; requests that arrive after the kill and before the
    resume come from the dead worker's last moments and are never delivered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen = 0
        self.refuse = True
        self.killed = False
        self.resumed = False
        self.victim: subprocess.Popen | None = None
        self.delivered: list[str] = []

    def script(self, path, body, headers):
        text = last_user_text(body)
        with self.lock:
            self.seen += 1
            if self.killed and not self.resumed:
                return Reply(status=503)
            if not self.killed and self.seen == KILL_AT:
                time.sleep(1.0)  # let the answers already sent be received and stored, then kill the worker
                os.killpg(self.victim.pid, signal.SIGKILL)
                self.killed = True
                return Reply(status=503)
            if self.refuse and text == REFUSED:
                return Reply(status=400, json={"error": {"message": "question 7 breaks the content policy"}})
            self.delivered.append(text)
        return default_reply(body, path)


def _worker(server: Server, name: str, **env: str) -> tuple[subprocess.Popen, Path]:
    tmp = server.log.parent
    log = tmp / f"{name}.log"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--queues", "default", "--pool", "solo",
                             "--concurrency", "1"], cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True,
                            env={**os.environ, "TUNELOOP_DATABASE_URL": server.database_url,
                                 "TUNELOOP_DATA_DIR": str(tmp / "var"), "PYTHONUNBUFFERED": "1",
                                 "TUNELOOP_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.db'}", **env})
    return proc, log


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def teacher():
    state = Teacher()
    with ScriptedServer(state.script) as server:
        server.state = state
        yield server


@pytest.fixture
def project(server) -> str:
    import secrets

    from app.models import Instruction, Project

    slug = f"kill-{secrets.token_hex(3)}"
    with server.sessions.begin() as session:
        project = Project(name=f"Answers {slug}", slug=slug)
        session.add(project)
        session.flush()
        session.execute(Instruction.__table__.insert(), [
            {"project_id": project.id, "instruction": f"Question {i}", "content_hash": f"{slug}-{i}", "input": "",
             "system": "", "history": [], "split": "train", "source": "", "metadata": {}, "status": "pending"}
            for i in range(QUESTIONS)])
    return slug


def _status(page) -> str:
    return page.locator("#job-status [data-status]").inner_text()


def _count(page, name: str) -> int:
    return int(page.locator(f"[data-count={name}] .stat").inner_text())


@pytest.mark.one_database("sqlite")
def test_answer_job_survives_a_killed_worker_and_answers_each_instruction_once(server, page, teacher, project):
    state: Teacher = teacher.state
    sign_in(page, server, add_user(server, "admin"))
    page.goto(f"{server.url}/admin/backends/new")
    page.fill("#name", "teacher")
    page.select_option("#kind", "openai")
    page.fill("#base_url", teacher.url)
    page.fill("#model", "teacher-1")
    page.fill("#max_concurrency", "8")
    page.click("main button:has-text('Add backend')")
    page.wait_for_url("**/admin/backends?**")
    page.click("button[aria-label='Test teacher']")
    page.locator(".test-result .latency").first.wait_for()
    assert "chat ✓" in page.locator(".test-result").first.inner_text()
    with state.lock:  # the backend test's requests are not the job's
        state.seen, state.delivered = 0, []

    first, first_log = _worker(server, "worker-1")
    state.victim = first
    second = None
    try:
        page.goto(f"{server.url}/jobs/new?project={project}&kind=answer")
        page.select_option("select[name=backend]", "teacher")
        page.fill("input[name=temperature]", "0")
        page.click("button:has-text('Start job')")
        page.wait_for_url("**/jobs/*")
        job_path = "/" + page.url.split("/", 3)[3]

        # Halfway, the worker dies without a word; the job page still says running (nobody noticed yet).
        deadline = time.monotonic() + 240
        while not state.killed:
            assert time.monotonic() < deadline, first_log.read_text()[-3000:]
            time.sleep(0.2)
        first.wait(timeout=30)
        page.goto(f"{server.url}{job_path}")
        assert _status(page) == "running"
        halfway = _count(page, "done")
        assert 0 < halfway < QUESTIONS

        # Another worker's reaper notices the silence and fails the job, saying why.
        second, second_log = _worker(server, "worker-2", TUNELOOP_JOB_HEARTBEAT_TIMEOUT_S="3",
                                     TUNELOOP_TUNING_REAPER_INTERVAL_S="1")
        wait_until(page, server, job_path, lambda p: _status(p) == "failed", what="the reaper",
                   worker_log=second_log)
        assert "stopped answering" in page.locator("#job-status").inner_text()

        with state.lock:
            state.resumed = True
        page.click("#job-status button:has-text('Resume')")
        wait_until(page, server, job_path, lambda p: _status(p) == "succeeded", what="the resumed job",
                   worker_log=second_log)
        assert (_count(page, "done"), _count(page, "failed")) == (QUESTIONS - 1, 1)
        page.locator("#item-rows tr.item").first.wait_for()
        page.click("[data-count=failed]")
        failed = page.locator("#item-rows tr.item")
        expect(failed).to_have_count(1)
        assert "content policy" in failed.first.inner_text()

        state.refuse = False
        page.click("button:has-text('Retry 1 failed')")
        wait_until(page, server, job_path, lambda p: _status(p) == "succeeded" and _count(p, "failed") == 0,
                   what="the retried item", worker_log=second_log)
        assert _count(page, "done") == QUESTIONS
        assert page.locator("[data-result=candidates_added]").inner_text() in (str(QUESTIONS), f"{QUESTIONS:,}")
    finally:
        _stop(first)
        if second is not None:
            _stop(second)

    # Exactly once: every question's answer was delivered once; nothing delivered before the kill was asked again.
    delivered = Counter(state.delivered)
    assert set(delivered) == {f"Question {i}" for i in range(QUESTIONS)}
    assert max(delivered.values()) == 1, [text for text, n in delivered.items() if n > 1][:10]
    from sqlalchemy import func, select

    from app.models import Candidate, Instruction, Project

    with server.sessions() as session:
        per_instruction = session.execute(
            select(Candidate.instruction_id, func.count()).join(Instruction).join(Project)
            .where(Project.slug == project).group_by(Candidate.instruction_id)).all()
    assert len(per_instruction) == QUESTIONS and {n for _, n in per_instruction} == {1}
