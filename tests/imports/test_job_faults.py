"""Import jobs whose worker dies: kill -9 mid-import on a real `tuneloop worker`, and the reaper's edges.

TUNELOOP_IMPORT_KILL_ROWS sizes the uploaded file (rows of Alpaca JSON Lines; 200000 for a long run).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.models import Candidate, ImportJob, ImportStatus, Instruction, Project
from tests.conftest import csrf_from, login, wait_for

ROWS = int(os.environ.get("TUNELOOP_IMPORT_KILL_ROWS", "40000"))
ADMIN = "import-kill-admin@example.com"
SEEDED = 3  # rows r0..r2 exist before the upload, with other answers: the file updates them


def _write_file(path: Path, rows: int) -> Path:
    with path.open("w") as fh:
        for i in range(rows):
            fh.write(json.dumps({"id": f"r{i}", "instruction": f"Write the number {i} in words.",
                                 "output": f"The number {i}."}) + "\n")
    return path


def _seed(tmp_path: Path) -> None:
    """An admin, the project, and three instructions imported before the upload."""
    from app.core.db import get_sessionmaker
    from app.imports.service import import_file
    from app.users.service import create_user

    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps({"id": f"r{i}", "instruction": f"Write the number {i} in words.",
                                        "output": f"Seeded answer {i}."}) + "\n" for i in range(SEEDED)))
    with get_sessionmaker()() as s:
        create_user(s, email=ADMIN, password="correct horse battery", role="admin")
        project = Project(name="Kill me", slug="kill-me", settings={})
        s.add(project)
        s.flush()
        assert import_file(s, project=project, path=seed).created == SEEDED
        s.commit()


def _instructions() -> dict[str, str]:
    """external_id -> the reference answer, for every instruction of the project."""
    from app.core.db import get_sessionmaker

    with get_sessionmaker()() as s:
        rows = s.execute(select(Instruction.external_id, Candidate.text).join(Candidate).join(Project)
                         .where(Project.slug == "kill-me"))
        return dict(rows.tuples().all())


def _rows_done(job_id: int) -> int:
    """The job's progress as the worker last wrote it, read without waiting on the import's transaction
    (on SQLite any session would queue behind its write lock, so there it is the progress file)."""
    from app.admin.imports_service import _progress_file
    from app.core.config import get_settings
    from app.core.db import get_sessionmaker

    if get_settings().is_sqlite:
        try:
            return int(json.loads(_progress_file(job_id).read_text()).get("done") or 0)
        except (OSError, ValueError):
            return 0
    with get_sessionmaker()() as s:
        return s.get(ImportJob, job_id).rows_done


def _upload(client: TestClient, path: Path) -> str:
    with path.open("rb") as fh:
        resp = client.post("/admin/imports", data={"project": "kill-me", "format": "auto"},
                           headers={"X-CSRFToken": csrf_from(client), "HX-Request": "true"},
                           files={"file": (path.name, fh, "application/jsonl")}, follow_redirects=False)
    assert resp.status_code == 204, resp.text
    return resp.headers["hx-redirect"]


def _status(client: TestClient, job_url: str) -> tuple[str, str]:
    page = client.get(job_url, headers={"HX-Request": "true"})
    assert page.status_code == 200, page.text
    status = page.text.split('data-testid="job-status">', 1)[1].split("<", 1)[0]
    return status, page.text


def _diagnosis(job_url: str, worker) -> str:
    """The job's row and the worker's log as they stand, and any PostgreSQL session still holding locks."""
    from sqlalchemy import text

    from app.core.db import get_sessionmaker

    job_id = int(job_url.rsplit("/", 1)[1])
    with get_sessionmaker()() as s:
        job = s.get(ImportJob, job_id)
        row = f"job {job_id}: {job.status} rows {job.rows_done}/{job.rows_total} error={job.error}"
        locks = ""
        if s.bind.dialect.name == "postgresql":
            locks = "\n".join(str(tuple(r)) for r in s.execute(text(
                "select pid, state, wait_event_type, left(query, 80) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()")))
    return f"{row}\n--- sessions ---\n{locks}\n--- worker ---\n{worker.output()[-3000:]}"


def test_a_worker_killed_mid_import_fails_the_job_and_the_file_imports_again(start_worker, tmp_path, monkeypatch):
    from app.admin import imports_service
    from app.imports.service import BATCH
    from app.main import create_app

    _seed(tmp_path)
    before = _instructions()
    data = _write_file(tmp_path / "numbers.jsonl", ROWS)
    worker = start_worker(queues="default")
    with TestClient(create_app()) as client:
        login(client, ADMIN)
        job_url = _upload(client, data)
        job_id = int(job_url.rsplit("/", 1)[1])

        # Past two batches, so rows were written inside the import's open transaction; then frozen, so the
        # figures read next are where it stands, and killed there.
        wait_for(lambda: _rows_done(job_id) >= 2 * BATCH, timeout=120, interval=0.01,
                 message=f"the import to write two batches\n{worker.output()[-3000:]}")
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        done_at_kill = _rows_done(job_id)
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        assert done_at_kill < ROWS, "the import finished before the kill; make TUNELOOP_IMPORT_KILL_ROWS bigger"
        killed_at = time.monotonic()

        # Its last beat is recent: with the 30 s timeout the job page still reads running.
        assert _status(client, job_url)[0] == "running"
        monkeypatch.setattr(imports_service, "STALE_AFTER_S", 2.0)
        status, page = wait_for(lambda: (s := _status(client, job_url))[0] != "running" and s, timeout=30,
                                interval=0.2, message="the reaper to fail the job")
        silent_s = time.monotonic() - killed_at
        assert status == "failed"
        assert ("The worker stopped while importing (no heartbeat for 2 s); nothing was imported. "
                "Upload the file again.") in page
        assert "hx-trigger" not in page  # the page stops polling
        assert 1.0 < silent_s < 30, silent_s
        assert _instructions() == before  # three seeded rows, their answers as they were

        # The same file uploaded again, to a fresh worker, imports every row. Back to the real timeout
        # first: the live import beats every 5 s, so under the 2 s one any slow poll would reap it.
        monkeypatch.setattr(imports_service, "STALE_AFTER_S", 30.0)
        worker = start_worker(queues="default")
        job_url = _upload(client, data)
        status, page = wait_for(lambda: (s := _status(client, job_url))[0] in ("succeeded", "failed") and s,
                                timeout=120, interval=0.2,
                                message=lambda: f"the second import to finish\n{_diagnosis(job_url, worker)}")
        assert status == "succeeded", page
        assert f"{ROWS} rows read of {ROWS} (100%)" in page
    after = _instructions()
    assert len(after) == ROWS
    assert after["r0"] == "The number 0." and after[f"r{ROWS - 1}"] == f"The number {ROWS - 1}."
    from app.core.db import get_sessionmaker

    with get_sessionmaker()() as s:
        jobs = s.query(ImportJob).order_by(ImportJob.id).all()
        assert [j.status for j in jobs] == [ImportStatus.failed, ImportStatus.succeeded]
        assert jobs[1].result["created"] == ROWS - SEEDED and jobs[1].result["updated"] == SEEDED
    print(f"\nkilled at {done_at_kill} of {ROWS} rows; failed {silent_s:.1f} s after the kill")


def _job(session, project_id: int, path: str, status: ImportStatus, silent_s: float) -> ImportJob:
    from datetime import timedelta

    from app.models.base import utcnow

    beat = utcnow() - timedelta(seconds=silent_s)
    job = ImportJob(project_id=project_id, path=path, source_name=Path(path).name, format="auto", status=status,
                    result={}, started_at=beat, heartbeat_at=beat)
    session.add(job)
    session.flush()
    return job


def test_the_job_page_fails_silent_jobs_and_leaves_live_and_queued_ones(client, db, make_user):
    from app.admin.imports_service import imports_root

    admin = make_user("admin")
    project = Project(name="Reaped", slug="reaped", settings={})
    db.add(project)
    db.flush()
    upload = str(imports_root() / "uploads" / "20260101000000-abcd-big.jsonl")
    silent = _job(db, project.id, upload, ImportStatus.running, silent_s=600)
    from_path = _job(db, project.id, str(imports_root() / "big.jsonl"), ImportStatus.running, silent_s=600)
    alive = _job(db, project.id, upload, ImportStatus.running, silent_s=1)
    queued = _job(db, project.id, upload, ImportStatus.queued, silent_s=600)
    db.commit()
    login(client, admin.email)

    page = client.get(f"/admin/imports/{silent.id}").text
    assert 'data-testid="job-status">failed' in page
    assert ("The worker stopped while importing (no heartbeat for 30 s); nothing was imported. "
            "Upload the file again.") in page
    # The list page reaps too; a job imported from a server path is started again, not uploaded.
    assert client.get("/admin/imports").status_code == 200
    db.expire_all()
    assert from_path.status == ImportStatus.failed and from_path.error.endswith("Start the import again.")
    assert alive.status == ImportStatus.running and alive.error is None
    assert queued.status == ImportStatus.queued
    assert 'data-testid="job-status">running' in client.get(f"/admin/imports/{alive.id}").text


def test_the_heartbeat_keeps_a_silent_phase_alive(live, monkeypatch):
    from datetime import timedelta

    from app.admin import imports_service as jobs
    from app.core.db import get_sessionmaker
    from app.models.base import utcnow
    from worker.tasks import imports as task

    with get_sessionmaker()() as s:
        project = Project(name="Beats", slug="beats", settings={})
        s.add(project)
        s.flush()
        beating = _job(s, project.id, "/nowhere/a.jsonl", ImportStatus.running, silent_s=300)
        quiet = _job(s, project.id, "/nowhere/b.jsonl", ImportStatus.running, silent_s=300)
        s.commit()
        for job in (beating, quiet):  # what the task writes first; on SQLite the file the beats touch
            jobs.record_progress(s, job_id=job.id, done=0, total=None)
            s.commit()
        silent_since = utcnow() - timedelta(seconds=300)
        for job in (beating, quiet):  # both silent for 5 minutes, in the row and in the file
            s.get(ImportJob, job.id).heartbeat_at = silent_since
            path = jobs._progress_file(job.id)
            if path.exists():
                os.utime(path, (silent_since.timestamp(),) * 2)
        s.commit()
    monkeypatch.setattr(task, "HEARTBEAT_EVERY_S", 0.05)
    with task.heartbeat(beating.id):
        time.sleep(0.5)  # counting the rows of a big file, or one long batch: no progress to report
    with get_sessionmaker()() as s:
        assert jobs.reap_stale_jobs(s, stale_after_s=5) == 1
        s.commit()
        assert s.get(ImportJob, beating.id).status == ImportStatus.running
        assert s.get(ImportJob, quiet.id).status == ImportStatus.failed


def test_an_import_given_up_by_the_reaper_keeps_nothing_when_it_ends(live, tmp_path, monkeypatch):
    """A worker that was only slow, not dead, finishes after the reaper said nothing was imported: it rolls
    back instead of committing, so the job's reason stays true."""
    from contextlib import contextmanager

    from app.admin import imports_service as jobs
    from app.core.db import get_sessionmaker
    from worker.tasks import imports as task

    data = _write_file(tmp_path / "slow.jsonl", 50)
    with get_sessionmaker()() as s:
        project = Project(name="Slow", slug="slow", settings={})
        s.add(project)
        s.flush()
        job = _job(s, project.id, str(data), ImportStatus.queued, silent_s=0)
        s.commit()
    real = task.heartbeat

    @contextmanager
    def reaped_on_entry(job_id: int):
        # The reaper runs between the claim and the import, as a page load would while the worker stalls.
        with get_sessionmaker()() as s:
            assert jobs.reap_stale_jobs(s, stale_after_s=0) == 1
            s.commit()
        with real(job_id):
            yield

    monkeypatch.setattr(task, "heartbeat", reaped_on_entry)
    task.run(job.id)
    with get_sessionmaker()() as s:
        after = s.get(ImportJob, job.id)
        assert after.status == ImportStatus.failed and "nothing was imported" in after.error
        assert s.query(Instruction).count() == 0
    # Nor does its progress file stay behind, to make a later job with that id look alive.
    assert not jobs._progress_file(job.id).exists()
