"""The rate limit is shared by every worker: four real `tuneloop worker` processes, ten job tasks each, all
asking one backend (rpm 30, four at once). The scripted server counts what it saw: in the minute, never
more than 30 requests, and never more than four at once, though forty jobs wanted more."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time

import pytest
from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.models import Backend, Instruction, Job, JobStatus, Project, User
from tests.conftest import wait_for
from tests.support.openai_server import ScriptedServer, chat_reply

RPM, AT_ONCE, WORKERS, TASKS, JOBS = 30, 4, 4, 10, 40


class Counting:
    """A script that answers after 0.25 s and counts the requests in flight (the server has one event loop)."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.numbers = itertools.count()

    async def __call__(self, path, body, headers):
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.25)
        finally:
            self.now -= 1
        return chat_reply(f"answer number {next(self.numbers)}")


def _setup(url: str, name: str) -> list[int]:
    """A backend, a project with three instructions, and forty queued answer jobs (sent to the workers)."""
    from app.jobs.service import create_job
    from app.users.service import create_user

    with get_sessionmaker()() as session:
        admin = create_user(session, email=f"admin-{secrets.token_hex(3)}@example.com",
                            password="correct horse battery", role="admin")
        project = Project(name="Shared", slug=f"shared-{secrets.token_hex(3)}")
        session.add_all([project, Backend(name=name, kind="openai", base_url=url, model="teacher-1",
                                          limits={"rpm": RPM, "max_concurrency": AT_ONCE})])
        session.flush()
        session.add_all(Instruction(project_id=project.id, instruction=f"Question {i}", content_hash=f"s{i}")
                        for i in range(3))
        session.commit()
        user = session.get(User, admin.id)
        ids = [create_job(session, user=user, project_slug=project.slug, kind_name="answer",
                          params={"backend": name, "temperature": 0.7}).id for _ in range(JOBS)]
        session.commit()
    return ids


def _statuses(ids: list[int]) -> dict[str, int]:
    with get_sessionmaker()() as session:
        rows = session.scalars(select(Job.status).where(Job.id.in_(ids))).all()
    return {s.value: rows.count(s) for s in set(rows)}


@pytest.mark.parametrize("database_url, broker_url", [("postgresql", "redis"), ("sqlite", "sqlite")],
                         indirect=True)
def test_four_workers_with_ten_tasks_each_never_exceed_rpm_or_concurrency(start_worker):
    counting = Counting()
    with ScriptedServer(counting) as server:
        workers = [start_worker(queues="default", pool="threads", concurrency=TASKS) for _ in range(WORKERS)]
        # A name of its own: the limit's keys in Redis (or rows) of another test can never count here.
        job_ids = _setup(server.url, f"shared-{secrets.token_hex(3)}")
        try:
            wait_for(lambda: len(server.seen) >= RPM, timeout=120, message=f"{RPM} requests at the server")
            # Every job started: four workers took ten each. The 30 requests answered ten jobs' three questions;
            # the other thirty jobs are running, waiting for the next minute.
            wait_for(lambda: "queued" not in _statuses(job_ids), timeout=120,
                     message=f"all {JOBS} jobs to start")
            time.sleep(2)  # the limit holds: nothing more goes out in this minute
            seen = list(server.seen)
            first = seen[0].at
            assert len(seen) == RPM and all(s.at - first < 60 for s in seen), len(seen)
            assert counting.most == AT_ONCE  # reached, never passed
            statuses = _statuses(job_ids)
            assert statuses.get("running", 0) >= JOBS - RPM // 3 and "failed" not in statuses, statuses
            assert all("received" in w.output() for w in workers)  # every process ran some of the jobs
        except BaseException:
            for worker in workers:
                print(f"--- worker {worker.proc.pid}:\n{worker.output()[-4000:]}")
            raise
        finally:
            from app.jobs.service import cancel_job

            with get_sessionmaker()() as session:
                active = session.scalars(select(Job.id).where(Job.id.in_(job_ids), Job.status.in_(
                    (JobStatus.queued, JobStatus.running)))).all()
                for job_id in active:
                    cancel_job(session, job_id=job_id)
                session.commit()
    assert "running" not in _statuses(job_ids)
    for worker in workers:  # all at once: each waits for its tasks to wind down
        worker.proc.terminate()
    for worker in workers:
        worker.stop()
        assert "Traceback" not in worker.output(), worker.output()[-3000:]
