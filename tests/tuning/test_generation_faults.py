"""Generation jobs on a real worker: an admin cancels a running job, and kill -9 of its worker is reaped."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.tuning.livehelp import child_process, client, is_zombie, live_setup, wait_ready

pytestmark = pytest.mark.training
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def broker_url(sqlite_broker_url: str) -> str:
    # Both brokers carry generation jobs in test_training; these paths are about the worker.
    return sqlite_broker_url


def _instructions(project, count: int) -> list[int]:
    from app.core.db import get_sessionmaker
    from app.models import Instruction

    with get_sessionmaker()() as session:
        items = [Instruction(project_id=project.id, instruction=f"What is {i} plus 3?", content_hash=f"g{i}")
                 for i in range(count)]
        session.add_all(items)
        session.commit()
        return [i.id for i in items]


def _model_candidates(ids: list[int]) -> int:
    from app.core.db import get_sessionmaker
    from app.models import Candidate

    with get_sessionmaker()() as session:
        return session.query(Candidate).filter(Candidate.instruction_id.in_(ids)).count()


def _generate(api, headers, project, model: Path) -> int:
    resp = api.post("/api/v1/generations", json={"project": project.slug, "model": str(model), "n": 1,
                                                 "max_new_tokens": 8}, headers=headers)
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def _job(api, headers, job_id: int) -> dict:
    return api.get(f"/api/v1/generations/{job_id}", headers=headers).json()


def _frozen_generator(worker) -> int:
    """Stop the worker's generator subprocess once it runs, so the job cannot finish before the test acts."""
    pid = wait_for(lambda: child_process(worker.proc.pid, "generate"), timeout=60, interval=0.05,
                   message="the worker to start generating")
    os.kill(pid, signal.SIGSTOP)
    return pid


def _gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}") or is_zombie(pid)


def test_admin_cancels_a_running_and_a_queued_generation_and_no_candidate_lands(fast_heartbeat, start_worker,
                                                                                tiny_model):
    headers, project, _ = live_setup()
    ids = _instructions(project, 3)
    worker = start_worker()
    wait_ready(worker)
    with client() as api:
        running = _generate(api, headers, project, tiny_model)
        waiting = _generate(api, headers, project, tiny_model)  # one at a time: it queues behind the first
        generator = _frozen_generator(worker)
        assert _job(api, headers, running)["status"] == "running"
        assert _job(api, headers, waiting)["status"] == "queued"
        for job_id in (waiting, running):
            resp = api.post(f"/api/v1/generations/{job_id}/cancel", headers=headers)
            assert resp.status_code == 202 and resp.json()["status"] == "cancelled", resp.text
        # The worker notices at its next tick and kills the generator, frozen or not.
        wait_for(lambda: _gone(generator), timeout=15, message="the worker to kill the cancelled generator")
        # The worker is free again, skips the cancelled queued job, and runs the next one to the end.
        after = _generate(api, headers, project, tiny_model)
        job = wait_for(lambda: (body := _job(api, headers, after))["status"] in FINISHED and body, timeout=240,
                       interval=0.5, message="the next generation job")
        assert job["status"] == "succeeded", (job["error"], worker.output()[-3000:])
        for job_id in (running, waiting):
            body = _job(api, headers, job_id)
            assert body["status"] == "cancelled" and body["candidates_added"] == 0, body
        # Only the job that was let run added candidates.
        assert _model_candidates(ids) == job["candidates_added"] == 3
        assert api.post(f"/api/v1/generations/{running}/cancel", headers=headers).status_code == 409


def test_kill_9_of_the_worker_mid_generation_is_reaped_by_another_worker(fast_heartbeat, start_worker, tiny_model):
    headers, project, _ = live_setup()
    ids = _instructions(project, 3)
    worker = start_worker()
    wait_ready(worker)
    with client() as api:
        job_id = _generate(api, headers, project, tiny_model)
        generator = _frozen_generator(worker)
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        wait_for(lambda: _gone(generator), timeout=15, message="the generator to die with its worker")
        assert _job(api, headers, job_id)["status"] == "running"  # nobody has noticed yet
        # A worker that lives on reaps the job with its own timer; no page is loaded.
        rescuer = start_worker()
        wait_ready(rescuer)
        job = wait_for(lambda: (body := _job(api, headers, job_id))["status"] != "running" and body, timeout=60,
                       interval=0.5, message="the reaper")
        assert job["status"] == "failed", (job, rescuer.output()[-3000:])
        assert "Worker lost" in job["error"] and job["finished_at"] is not None
        assert _model_candidates(ids) == 0
