"""The engine on a real database against a real HTTP server: items, counts, provenance, stored answers, cancel
and resume without paying twice, retries of failed items."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from app.core.db import get_sessionmaker
from app.jobs.runner import run_job
from app.models import Candidate, Job, JobItem, JobStatus, StoredResponse
from tests.jobs.conftest import create
from tests.support.openai_server import Reply, chat_reply, last_user_text


def _job(job_id):
    with get_sessionmaker()() as session:
        return session.get(Job, job_id)


def test_answer_job_adds_n_candidates_per_instruction_with_provenance(seeded, scripted):
    seeded["backend"]("teacher", scripted.url, max_concurrency=4)
    job_id = create(seeded, "answer", {"backend": "teacher", "n": 2, "temperature": 0.5, "seed": 7})
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.succeeded, job.error
    assert (job.items_total, job.items_done, job.items_failed, job.items_pending) == (12, 12, 0, 0)
    assert job.result["candidates_added"] == 24
    with get_sessionmaker()() as session:
        candidates = session.scalars(select(Candidate).where(Candidate.job_id == job_id)).all()
        assert len(candidates) == 24
        assert {c.backend for c in candidates} == {"teacher"}
        assert {c.model for c in candidates} == {"teacher-1"}
        assert {c.construction for c in candidates} == {"distilled"}
        assert all(c.meta["temperature"] == 0.5 and c.meta["seed"] == 7 for c in candidates)
        assert "answer 1 to: Question number 3" in {c.text for c in candidates}
        assert session.scalar(select(func.count()).select_from(StoredResponse)) == 12
    # Each prompt went out once, with the sampling settings asked for.
    bodies = scripted.bodies()
    assert len(bodies) == 12 and all(b["n"] == 2 and b["seed"] == 7 and b["model"] == "teacher-1" for b in bodies)


def test_cancel_then_resume_sends_only_what_never_got_an_answer(seeded, scripted):
    seeded["backend"]("teacher", scripted.url, max_concurrency=1)
    job_id = create(seeded, "answer", {"backend": "teacher", "temperature": 0})
    hold = threading.Event()

    def script(path, body, headers):
        if last_user_text(body) == "Question number 5" and not hold.is_set():
            hold.set()
            from app.jobs.service import cancel_job

            with get_sessionmaker()() as session:
                cancel_job(session, job_id=job_id)
                session.commit()
            return Reply(delay_s=4, json=chat_reply("too late").json)
        return None

    scripted.script = script
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.cancelled
    # Questions 0-4 were answered; some may not be handled yet (their answers are stored: resume reuses them).
    assert job.items_done <= 5 and job.items_pending == 12 - job.items_done
    from app.jobs.service import resume_job

    with get_sessionmaker()() as session:
        resume_job(session, job_id=job_id)
        session.commit()
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.succeeded and job.items_done == 12
    asked = [last_user_text(b) for b in scripted.bodies()]
    # Question 5 was asked twice: its first answer never arrived (the cancel cut it off). Nothing else repeats.
    assert sorted(asked) == sorted([f"Question number {i}" for i in range(12)] + ["Question number 5"])


def test_failed_items_say_why_and_retry_failed_sends_only_those(seeded, scripted):
    seeded["backend"]("teacher", scripted.url, max_concurrency=2, max_retries=0)

    def script(path, body, headers):
        if last_user_text(body).endswith(("3", "7")):
            return Reply(status=400, json={"error": {"message": "prompt rejected by policy"}})
        return None

    scripted.script = script
    job_id = create(seeded, "answer", {"backend": "teacher", "temperature": 0})
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.succeeded and (job.items_done, job.items_failed) == (10, 2)
    with get_sessionmaker()() as session:
        errors = session.scalars(select(JobItem.error).where(JobItem.job_id == job_id, JobItem.status == "failed"))
        assert all("HTTP 400: prompt rejected by policy" in e for e in errors)
        from app.jobs.service import retry_failed

        scripted.script = None
        retry_failed(session, job_id=job_id)
        session.commit()
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.succeeded and (job.items_done, job.items_failed) == (12, 0)
    asked = [last_user_text(b) for b in scripted.bodies()]
    assert len(asked) == 14 and asked.count("Question number 3") == 2 and asked.count("Question number 4") == 1
