"""kill -9 of a real `tuneloop worker` in the middle of an answer job: the reaper fails the job, resume on a
fresh worker finishes it, and the server never answers the same request twice (every answer it gave was stored
before anything else happened)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.conftest import reset_app_caches, wait_for
from tests.jobs.conftest import create
from tests.support.openai_server import Reply, default_reply, last_user_text

PROMPTS = 60


@pytest.fixture
def broker_url(database_url, request) -> str:
    """The embedded pair (SQLite with the SQLite broker) and the production pair (PostgreSQL with Redis): the
    other two pairings add time, not cover more of what a kill can break."""
    return request.getfixturevalue("sqlite_broker_url" if database_url.startswith("sqlite") else "redis_broker_url")
KILL_AT = 25  # the request that finds the worker dead


def _job(job_id):
    from app.core.db import get_sessionmaker
    from app.models import Job

    with get_sessionmaker()() as session:
        return session.get(Job, job_id)


# On PostgreSQL with Redis; the same kill on SQLite is driven from the browser (tests/browser/
# test_answer_kill_resume_flow.py).
@pytest.mark.one_database("postgresql")
def test_kill_9_mid_job_then_resume_answers_every_instruction_once(start_worker, seeded, scripted, monkeypatch):
    from app.core.db import get_sessionmaker
    from app.jobs.service import reap_jobs, resume_job
    from app.models import Candidate, Instruction, JobStatus

    monkeypatch.setenv("TUNELOOP_JOB_HEARTBEAT_TIMEOUT_S", "3")
    reset_app_caches()
    with get_sessionmaker()() as session:
        session.add_all(Instruction(project_id=seeded["project"], instruction=f"Extra question {i}",
                                    content_hash=f"x{i}") for i in range(PROMPTS - 12))
        session.commit()
    seeded["backend"]("teacher", scripted.url, max_concurrency=4)
    delivered: list[str] = []
    state = {"seen": 0, "killed": False, "seen_after": None}
    lock = threading.Lock()
    worker = start_worker(queues="default")

    def script(path, body, headers):
        with lock:
            state["seen"] += 1
            if state["killed"]:
                if state["seen_after"] is None:
                    return Reply(status=503)  # arrived before the kill: the client is gone
            elif state["seen"] == KILL_AT:
                # Let every answer already sent be received and stored, then kill the worker here.
                time.sleep(1.5)
                os.killpg(worker.proc.pid, signal.SIGKILL)
                state["killed"], state["seen_after"] = True, None
                return Reply(status=503)
            delivered.append(last_user_text(body))
        return default_reply(body, path)

    scripted.script = script
    job_id = create(seeded, "answer", {"backend": "teacher", "temperature": 0})
    wait_for(lambda: state["killed"], timeout=120, message=f"the kill\n{worker.output()[-3000:]}")
    worker.proc.wait()
    assert _job(job_id).status == JobStatus.running  # nobody has noticed yet

    def reaped():
        with get_sessionmaker()() as session:
            reap_jobs(session)
            session.commit()
        return _job(job_id).status == JobStatus.failed

    wait_for(reaped, timeout=30, interval=0.5, message="the reaper to fail the job")
    assert "stopped answering" in _job(job_id).error
    with lock:
        state["seen_after"] = True  # from here on, requests come from the new worker
    with get_sessionmaker()() as session:
        resume_job(session, job_id=job_id)
        session.commit()
    worker = start_worker(queues="default")
    wait_for(lambda: _job(job_id).status in (JobStatus.succeeded, JobStatus.failed), timeout=120,
             message=f"the resumed job to finish\n{worker.output()[-3000:]}")
    job = _job(job_id)
    assert job.status == JobStatus.succeeded, job.error
    assert (job.items_done, job.items_failed) == (PROMPTS, 0)
    answered = Counter(delivered)
    assert set(answered) == {*(f"Question number {i}" for i in range(12)),
                             *(f"Extra question {i}" for i in range(PROMPTS - 12))}
    assert max(answered.values()) == 1, [text for text, n in answered.items() if n > 1]
    with get_sessionmaker()() as session:
        per_instruction = session.execute(select(Candidate.instruction_id, func.count()).where(
            Candidate.job_id == job_id).group_by(Candidate.instruction_id)).all()
        assert len(per_instruction) == PROMPTS and {n for _, n in per_instruction} == {1}
