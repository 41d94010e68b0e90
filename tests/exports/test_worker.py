"""Exports through a real `tuneloop worker`: success, and a worker killed with -9 in the middle of one."""

from __future__ import annotations

import os
import shutil
import signal

from fastapi.testclient import TestClient

from tests.conftest import wait_for


def _status(client, export_id, headers) -> dict:
    return client.get(f"/api/v1/exports/{export_id}", headers=headers).json()


def test_export_runs_on_a_real_worker(start_worker, live_admin):
    from app.main import create_app

    worker = start_worker(queues="default")
    with TestClient(create_app()) as client:
        body = {"format": "preference", "preference_style": "conversational", "file_format": "parquet"}
        export_id = client.post("/api/v1/projects/live-proj/exports", json=body, headers=live_admin).json()["id"]
        done = wait_for(lambda: _status(client, export_id, live_admin)["status"] in ("succeeded", "failed") and
                        _status(client, export_id, live_admin), timeout=60, message=f"export\n{worker.output()}")
        assert done["status"] == "succeeded", done["error"]
        assert [f["name"] for f in done["files"]] == ["eval.parquet", "train.parquet", "approval_ids.txt"]


def test_a_killed_worker_leaves_no_visible_snapshot(start_worker, live_admin):
    from app.core.db import get_sessionmaker
    from app.exports.service import exports_root, reap_stale_exports
    from app.main import create_app
    from app.models import Project
    from benchmarks.export import bulk_load

    with get_sessionmaker()() as session:
        project_id = session.query(Project).filter_by(slug="live-proj").one().id
    from app.core.config import get_settings

    bulk_load(get_settings().database_url, project_id, 20_000)  # big enough to be caught mid-write
    folder = exports_root() / "live-proj"
    shutil.rmtree(folder, ignore_errors=True)  # snapshots of earlier tests' live-proj
    worker = start_worker(queues="default")
    with TestClient(create_app()) as client:
        body = {"format": "preference", "file_format": "parquet"}
        export_id = client.post("/api/v1/projects/live-proj/exports", json=body, headers=live_admin).json()["id"]

        def writing() -> bool:
            temps = list(folder.glob(f".tmp-{export_id}-*")) if folder.exists() else []
            return any(p.is_file() for t in temps for p in t.iterdir())

        wait_for(writing, timeout=60, interval=0.01, message=f"the export to start writing\n{worker.output()}")
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        assert _status(client, export_id, live_admin)["status"] == "running"
        visible = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
        assert visible == [], "a killed export must never leave a visible snapshot"
        with get_sessionmaker()() as session:
            # The worker heartbeats every second; with no heartbeat since the kill, the reaper calls it dead.
            assert reap_stale_exports(session, stale_after_s=0) == 1
            session.commit()
        failed = _status(client, export_id, live_admin)
        assert failed["status"] == "failed" and "stopped responding" in failed["error"]
        assert list(folder.iterdir()) == [], "the dead attempt's temp folder is swept"
        resp = client.get(f"/api/v1/exports/{export_id}/download", headers=live_admin)
        assert resp.status_code == 409
