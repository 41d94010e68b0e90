"""Tuning tasks: validate a run, train it in a subprocess while relaying events and beating, build the tiny model."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

from celery.signals import worker_ready
from sqlalchemy import update

from app.core.beats import beating
from app.core.config import get_settings
from app.core.queue import TRAINING_QUEUE, enqueue_after_commit, get_celery
from app.models import RunState, TuningRun
from app.models.base import utcnow
from app.tuning import relay
from app.tuning.service import RUN_TASK, VALIDATE_TASK, transition
from app.tuning.spec import build_spec, default_base_model, log_file, output_dir, run_dir, stop_file
from worker.tasks.db import task_session
from worker.tasks.trainer_process import ROOT, TrainerProcess, _die_with_parent, trainer_command, trainer_env

logger = logging.getLogger("tuneloop.worker")
VALIDATE_TIMEOUT_S = 900
CHECK_KINDS = (("disk", "disk"), ("model", "config"), ("tokenizer", "config"), ("quantization", "config"),
               ("spec", "config"))


def _validation_failure(result: dict[str, Any]) -> tuple[str, str]:
    """The error kind and the words for a failed validation, naming each failed check."""
    failed = [c for c in result.get("checks", []) if not c.get("ok")]
    names = " ".join(str(c.get("name", "")).lower() for c in failed)
    kind = next((k for word, k in CHECK_KINDS if word in names), "data")
    details = "; ".join(f"{c.get('name')}: {c.get('detail')}" for c in failed) or "no check passed"
    return kind, f"Validation failed ({kind}): {details}."


@get_celery().task(name=VALIDATE_TASK)
def validate(run_id: int) -> None:
    """Check the snapshot, model and tokenizer before a run is queued; store what was checked."""
    with task_session() as session:
        run = session.get(TuningRun, run_id)
        if run is None or run.state not in (RunState.created, RunState.validating):
            return
        if run.state == RunState.validating and relay.heartbeat_is_fresh(run):
            return  # a redelivery while another worker validates it
        if not relay.start_validation(session, run, host=socket.gethostname()):
            return
        spec = build_spec(run, resume=False)
    path = run_dir(run_id) / "validate.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=2))
    with _beating(run_id):
        result, problem = _run_validate(path, run_id)
    with task_session() as session:
        run = session.get(TuningRun, run_id)
        if run.state != RunState.validating:
            return  # cancelled meanwhile
        if result is not None:
            run.checks = result.get("checks", [])
            run.token_stats = result.get("token_stats") or {}
            run.sample = result.get("sample") or {}
            session.flush()
        if result is not None and result.get("ok"):
            transition(session, run, RunState.queued, (RunState.validating,), queued_at=utcnow())
            enqueue_after_commit(session, RUN_TASK, run_id, queue=TRAINING_QUEUE)
            return
        kind, message = _validation_failure(result) if result is not None else ("internal", problem)
        transition(session, run, RunState.failed, (RunState.validating,), error_kind=kind, error=message,
                   finished_at=utcnow())


def _beating(run_id: int) -> contextlib.AbstractContextManager[None]:
    """Beat for a validating run, so the reaper can tell a slow validation from a dead one."""
    return beating(f"validation of run {run_id}", get_settings().tuning_heartbeat_s,
                   lambda s: relay.beat(s, run_id))


def _run_validate(path, run_id: int) -> tuple[dict[str, Any] | None, str]:
    """Run `validate`; its one JSON object, or None and why not."""
    try:
        # Dies with the worker, like the trainer: the reaper fails the run, and nobody reads a result then.
        proc = subprocess.run(trainer_command("validate", str(path)), capture_output=True, text=True, cwd=ROOT,
                              env=trainer_env(), timeout=VALIDATE_TIMEOUT_S,
                              preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    except subprocess.TimeoutExpired:
        return None, f"Validation took longer than {VALIDATE_TIMEOUT_S} s; check the model path and the disk."
    with log_file(run_id).open("a", encoding="utf-8") as log:
        log.write(proc.stderr)
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            result = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(result, dict) and "ok" in result:
            return result, ""
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    return None, f"Validation could not run (exit status {proc.returncode}): {tail or 'no output'}."


class Relay:
    """Buffers trainer events and writes them at most once a second; lifecycle events go at once."""

    URGENT = frozenset({"started", "checkpoint", "eval", "artifact", "cancelled", "completed", "error"})

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.pending: list[dict[str, Any]] = []
        self.last_flush = 0.0

    def add(self, event: dict[str, Any]) -> None:
        self.pending.append(event)
        if event.get("event") in self.URGENT:
            self.flush()

    def flush_if_due(self) -> None:
        if self.pending and time.monotonic() - self.last_flush >= 1.0:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        try:
            with task_session() as session:
                relay.record(session, self.run_id, self.pending)
        except Exception:
            # The database may blip; keep the events and try again on the next tick.
            logger.exception("relaying events of run %s failed; retrying", self.run_id)
            return
        self.pending = []
        self.last_flush = time.monotonic()


class Heartbeat(threading.Thread):
    """Proves the run is alive while the trainer runs, and carries cancel requests to it."""

    def __init__(self, run_id: int, trainer: TrainerProcess) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.run_id, self.trainer = run_id, trainer
        self.halt = threading.Event()
        self.killed_for_cancel = False

    def run(self) -> None:
        settings = get_settings()
        while not self.halt.wait(settings.tuning_heartbeat_s):
            try:
                with task_session() as session:
                    live = relay.beat(session, self.run_id)
            except Exception:
                logger.exception("heartbeat of run %s failed", self.run_id)
                continue
            if live is None or live[0] != RunState.cancelling:
                continue
            # The web may be on another machine: write the stop file where the trainer can see it.
            stop_file(self.run_id).touch()
            requested = live[1] or utcnow()
            if utcnow() - requested > timedelta(seconds=settings.tuning_cancel_timeout_s):
                self.killed_for_cancel = True
                self.trainer.kill_group(signal.SIGKILL)


def _outcome(seen: dict[str, dict[str, Any]], rc: int, beat: Heartbeat,
             trainer: TrainerProcess) -> tuple[RunState, str | None, str | None]:
    """Decide how the run ended from the events seen and the exit status."""
    if "completed" in seen and rc == 0:
        return RunState.succeeded, None, None
    if "cancelled" in seen:
        return RunState.cancelled, None, None
    if beat.killed_for_cancel:
        timeout = get_settings().tuning_cancel_timeout_s
        return RunState.cancelled, "killed", f"The trainer did not stop within {timeout:g} s and was killed."
    if "error" in seen:
        return RunState.failed, None, None
    if rc < 0:
        name = signal.Signals(-rc).name
        hint = " (often the out-of-memory killer)" if -rc == signal.SIGKILL else ""
        return RunState.failed, "killed", (f"The training process was killed by {name}{hint}. "
                                           "Resume the run to continue from its last checkpoint.")
    tail = trainer.log_tail(3).replace("\n", " | ")
    return RunState.failed, "internal", (f"The training process exited with status {rc} without reporting "
                                         f"why. Last log lines: {tail or 'none'}")


@get_celery().task(name=RUN_TASK, acks_late=True)
def run(run_id: int) -> None:
    """Train a queued run; a redelivery for a run some worker is still beating for does nothing."""
    with task_session() as session:
        row = session.get(TuningRun, run_id)
        if row is None:
            return
        if row.state in (RunState.running, RunState.finalizing, RunState.cancelling):
            if not relay.heartbeat_is_fresh(row):
                relay.reap(session)
            return
        if not relay.claim(session, row, host=socket.gethostname()):
            return
        spec = build_spec(row, resume=bool(row.checkpoint_path))
    try:
        _train(run_id, spec)
    except Exception as exc:
        logger.exception("run %s crashed in the worker", run_id)
        with task_session() as session:
            relay.finish(session, run_id, outcome=RunState.failed, error_kind="internal",
                         error=f"The worker failed while running the trainer: {exc}")


def _train(run_id: int, spec: dict[str, Any]) -> None:
    folder = run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    if spec["resume_from_checkpoint"] is None:
        # A fresh start owns its folder: leftovers (a deleted run's id reused by SQLite) must not be resumed.
        shutil.rmtree(output_dir(run_id), ignore_errors=True)
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    stop_file(run_id).unlink(missing_ok=True)
    trainer = TrainerProcess(["run", str(spec_path)], log_file(run_id))
    with task_session() as session:
        session.execute(update(TuningRun).where(TuningRun.id == run_id).values(pid=trainer.pid)
                        .execution_options(synchronize_session=False))
    beat = Heartbeat(run_id, trainer)
    beat.start()
    events = Relay(run_id)
    seen: dict[str, dict[str, Any]] = {}
    try:
        for event in trainer.events():
            if event is not None:
                seen[event["event"]] = event
                events.add(event)
            events.flush_if_due()
        rc = trainer.wait()
    finally:
        beat.halt.set()
        beat.join(timeout=10)
    for _ in range(30):  # the last events must land before the outcome
        events.flush()
        if not events.pending:
            break
        time.sleep(1)
    outcome, kind, message = _outcome(seen, rc, beat, trainer)
    with task_session() as session:
        relay.finish(session, run_id, outcome=outcome, error_kind=kind, error=message)


@get_celery().task(name="tuneloop.tuning.init_tiny")
def init_tiny() -> None:
    """Build the tiny demo model in data_dir/models/tiny unless it is there."""
    target = default_base_model()
    if (target / "config.json").exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(trainer_command("init-tiny", str(target)), check=True, cwd=ROOT, env=trainer_env(),
                   capture_output=True, timeout=600)


def _reaper_loop() -> None:
    # Celery beat is not part of the embedded setup: every worker reaps on its own timer.
    from app.jobs.service import reap_jobs

    while True:
        time.sleep(get_settings().tuning_reaper_interval_s)
        try:
            with task_session() as session:
                relay.reap(session)
                reap_jobs(session)
        except Exception:
            logger.exception("the reaper failed; trying again later")


@worker_ready.connect
def _start_reaper(**_kwargs: Any) -> None:
    threading.Thread(target=_reaper_loop, name="tuning-reaper", daemon=True).start()
