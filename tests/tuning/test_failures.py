"""Failure paths with a real worker: cancel mid-run, kill -9 the trainer or the worker, resume from a checkpoint."""

from __future__ import annotations

import os
import signal

import pytest

from app.tuning.spec import checkpoint_step as checkpoint_step_of
from tests.conftest import wait_for
from tests.tuning.livehelp import child_process, client, events, is_zombie, live_setup, wait_ready, wait_run

# Each path runs on one database, two on each: what they test is the worker and the trainer, and a trainer run is
# the slowest thing in the suite.
pytestmark = pytest.mark.training
TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture
def broker_url(sqlite_broker_url: str) -> str:
    # The broker round trip is covered on both brokers in test_training; these paths are about the worker.
    return sqlite_broker_url


def _start(api, headers, project, export, tiny_model, **hyper) -> int:
    from tests.tuning.conftest import run_body

    resp = api.post("/api/v1/tuning-runs", json=run_body(project, export, tiny_model, **hyper), headers=headers)
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def _pid(run_id: int) -> int | None:
    from app.core.db import get_sessionmaker
    from app.models import TuningRun

    with get_sessionmaker()() as session:
        return session.get(TuningRun, run_id).pid


def _why(run: dict, worker) -> str:
    """The run's state and error on the first line (pytest cuts long messages), then the logs behind it."""
    from app.tuning.spec import log_file

    log = log_file(run["id"])
    trainer = log.read_text(errors="replace")[-2000:] if log.exists() else "(no train.log)"
    return (f"state={run.get('state')} error_kind={run.get('error_kind')} error={run.get('error')}\n"
            f"--- train.log ---\n{trainer}\n--- worker ---\n{worker.output()[-3000:]}")


def _resume_and_finish(api, headers, run_id: int, checkpoint_step: int, total: int, worker) -> None:
    resp = api.post(f"/api/v1/tuning-runs/{run_id}/resume", headers=headers)
    assert resp.status_code == 202 and resp.json()["state"] == "queued", resp.text
    run = wait_run(api, headers, run_id, lambda r: r["state"] in TERMINAL and r["progress"]["attempt"] == 2)
    assert run["state"] == "succeeded", _why(run, worker)
    started = events(api, headers, run_id, "started")
    assert len(started) == 2, started
    # The newest checkpoint saved whole: the one the run showed, or one the trainer finished saving in the instant
    # before the kill, before it could report it. A checkpoint the kill cut short is passed over.
    resumed = checkpoint_step_of(started[1]["data"]["resumed_from"])
    assert resumed is not None and resumed >= checkpoint_step, (started[1], checkpoint_step)
    second = [e["data"]["step"] for e in events(api, headers, run_id, "log") if e["id"] > started[1]["id"]]
    # It continued from the checkpoint instead of starting over at step 1.
    assert second[0] == resumed + 1 and second[-1] == total
    assert run["progress"]["step"] == total


@pytest.mark.one_database("postgresql")
def test_cancel_mid_run_stops_with_a_checkpoint_and_resume_continues(fast_heartbeat, start_worker, tiny_model):
    headers, project, export = live_setup()
    worker = start_worker()
    with client() as api:
        run_id = _start(api, headers, project, export, tiny_model, max_steps=30, save_steps=2)
        wait_run(api, headers, run_id, lambda r: r["checkpoint"] or r["state"] in TERMINAL, message="a checkpoint")
        resp = api.post(f"/api/v1/tuning-runs/{run_id}/cancel", headers=headers)
        assert resp.status_code == 202 and resp.json()["state"] == "cancelling", resp.text
        run = wait_run(api, headers, run_id, lambda r: r["state"] in TERMINAL)
        assert run["state"] == "cancelled", (run, worker.output()[-3000:])
        cancelled = events(api, headers, run_id, "cancelled")
        assert cancelled and run["checkpoint"]["step"] == cancelled[0]["data"]["step"] < 30
        _resume_and_finish(api, headers, run_id, run["checkpoint"]["step"], 30, worker)


@pytest.mark.one_database("sqlite")
def test_kill_9_of_the_trainer_fails_the_run_and_resume_finishes_it(fast_heartbeat, start_worker, tiny_model):
    headers, project, export = live_setup()
    worker = start_worker()
    with client() as api:
        # Enough steps that an idle machine cannot finish between the first checkpoint and the kill.
        run_id = _start(api, headers, project, export, tiny_model, max_steps=120, save_steps=2)
        # Sent while the worker may still be declaring its queues on the new broker file, as a user would.
        run = wait_run(api, headers, run_id,
                       lambda r: r["checkpoint"] or r["state"] in TERMINAL or worker.proc.poll() is not None,
                       message="a checkpoint")
        assert worker.proc.poll() is None, f"the worker exited:\n{worker.output()[-3000:]}"
        assert run["state"] == "running", run
        os.kill(_pid(run_id), signal.SIGKILL)
        run = wait_run(api, headers, run_id, lambda r: r["state"] in TERMINAL)
        assert run["state"] == "failed" and run["error_kind"] == "killed" and "SIGKILL" in run["error"], \
            _why(run, worker)
        assert run["checkpoint"] is not None
        _resume_and_finish(api, headers, run_id, run["checkpoint"]["step"], 120, worker)


@pytest.mark.one_database("postgresql")
def test_kill_9_of_the_worker_is_caught_by_the_reaper(fast_heartbeat, start_worker, tiny_model):
    headers, project, export = live_setup()
    worker = start_worker()
    with client() as api:
        run_id = _start(api, headers, project, export, tiny_model, max_steps=300, save_steps=2)
        run = wait_run(api, headers, run_id, lambda r: r["progress"]["step"] >= 1 or r["state"] in TERMINAL,
                       message="training to start")
        assert run["state"] == "running", run
        trainer = _pid(run_id)
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        # The trainer dies with its worker instead of training on unobserved.
        wait_for(lambda: not os.path.exists(f"/proc/{trainer}") or is_zombie(trainer), timeout=15,
                 message="the trainer to die with its worker")
        # The run page runs the reaper: once the heartbeat is older than the timeout the run is failed.
        def reaped():
            assert api.get(f"/runs/{run_id}", headers=headers).status_code == 200
            return api.get(f"/api/v1/tuning-runs/{run_id}", headers=headers).json()["state"] == "failed"

        wait_for(reaped, timeout=30, interval=0.5, message="the reaper")
        run = api.get(f"/api/v1/tuning-runs/{run_id}", headers=headers).json()
        assert run["error_kind"] == "worker_lost" and "Worker lost" in run["error"]


@pytest.mark.one_database("sqlite")
def test_kill_9_of_the_worker_while_validating_fails_the_run_and_a_clone_trains(fast_heartbeat, start_worker,
                                                                               tiny_model):
    headers, project, export = live_setup()
    worker = start_worker()
    wait_ready(worker)
    with client() as api:
        run_id = _start(api, headers, project, export, tiny_model, max_steps=2, save_steps=1)
        # Freeze the validation subprocess, so the kill lands while the run is validating, however fast the
        # machine: the worker waits on it and nothing else moves the run on.
        checker = wait_for(lambda: child_process(worker.proc.pid, "validate"), timeout=60, interval=0.05,
                           message="the worker to start validating")
        os.kill(checker, signal.SIGSTOP)
        assert api.get(f"/api/v1/tuning-runs/{run_id}", headers=headers).json()["state"] == "validating"
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        # The stopped checker dies with its worker rather than lingering.
        wait_for(lambda: not os.path.exists(f"/proc/{checker}") or is_zombie(checker), timeout=15,
                 message="the validation to die with its worker")
        # A worker that lives on (here a fresh one) reaps the run with its own timer; no page is loaded.
        rescuer = start_worker()
        wait_ready(rescuer)
        run = wait_run(api, headers, run_id, lambda r: r["state"] != "validating", timeout=60)
        assert run["state"] == "failed", (run, rescuer.output()[-3000:])
        assert run["error_kind"] == "worker_lost" and "Worker lost during validation" in run["error"], run
        assert "clone the run" in run["error"]
        resp = api.post(f"/api/v1/tuning-runs/{run_id}/clone", headers=headers)
        assert resp.status_code == 202, resp.text
        # The clone validates and trains on the live worker; its validation beats, so the reaper leaves it be.
        clone = wait_run(api, headers, resp.json()["id"], lambda r: r["state"] in TERMINAL)
        assert clone["state"] == "succeeded", (clone, rescuer.output()[-3000:])
        assert clone["progress"]["step"] == 2
        assert api.get(f"/api/v1/tuning-runs/{run_id}", headers=headers).json()["state"] == "failed"
