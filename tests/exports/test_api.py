"""REST: admin only, validation errors in the API shape, 409 before success, and a full run in-process."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

from fastapi.testclient import TestClient

from app.models import Export, ExportStatus
from app.models.base import utcnow
from tests.exports.conftest import add_approved, add_project, seed_mixed


def test_only_admins_may_export(client, db, project, make_user, token_for, admin_headers):
    seed_mixed(db, project, n=2)
    created = client.post(f"/api/v1/projects/{project.slug}/exports", json={"format": "kto"}, headers=admin_headers)
    assert created.status_code == 202, created.text
    export_id = created.json()["id"]
    callers = {role: token_for(make_user(role)) for role in ("reviewer", "annotator")}
    db.commit()  # a refused request rolls back to here, keeping the callers' tokens
    for role, headers in callers.items():
        for method, url in [("post", f"/api/v1/projects/{project.slug}/exports"),
                            ("get", f"/api/v1/exports/{export_id}"), ("get", f"/api/v1/exports/{export_id}/download"),
                            ("get", "/exports"), ("get", f"/exports/{export_id}")]:
            body = {"json": {"format": "kto"}} if method == "post" else {}
            resp = getattr(client, method)(url, headers=headers, **body)
            assert resp.status_code == 403, (role, url, resp.text)
            assert resp.json()["error"]["code"] == "forbidden"
    assert client.get(f"/api/v1/exports/{export_id}").status_code == 401


def test_bad_requests_say_what_and_where(client, db, project, admin_headers):
    seed_mixed(db, project, n=2)
    db.commit()  # refused requests roll back to here
    url = f"/api/v1/projects/{project.slug}/exports"
    bad = client.post(url, json={"format": "csv"}, headers=admin_headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "format"
    extra = client.post(url, json={"format": "kto", "filters": {"colour": "red"}}, headers=admin_headers)
    assert extra.status_code == 422 and extra.json()["error"]["details"][0]["field"] == "filters.colour"
    frac = client.post(url, json={"format": "kto", "eval_fraction": 1.5}, headers=admin_headers)
    assert frac.status_code == 422 and "eval_fraction" in frac.json()["error"]["message"]
    layout = client.post(url, json={"format": "kto", "file_format": "json"}, headers=admin_headers)
    assert layout.status_code == 422 and "sft-alpaca" in layout.json()["error"]["message"]
    nothing = client.post(url, json={"format": "kto", "filters": {"source": ["nowhere"]}}, headers=admin_headers)
    assert nothing.status_code == 422 and "No approved instructions" in nothing.json()["error"]["message"]
    missing = client.post("/api/v1/projects/nope/exports", json={"format": "kto"}, headers=admin_headers)
    assert missing.status_code == 404
    assert client.get("/api/v1/exports/999999", headers=admin_headers).status_code == 404
    assert db.query(Export).count() == 0


def test_versions_increment_and_download_waits(client, db, project, admin_headers):
    seed_mixed(db, project, n=2)
    db.commit()
    url = f"/api/v1/projects/{project.slug}/exports"
    ids = [client.post(url, json={"format": f}, headers=admin_headers).json()["id"] for f in ("kto", "sharegpt")]
    versions = [client.get(f"/api/v1/exports/{i}", headers=admin_headers).json()["version"] for i in ids]
    assert versions == [1, 2]
    other = add_project(db)
    add_approved(db, other, instruction="x")
    first_other = client.post(f"/api/v1/projects/{other.slug}/exports", json={"format": "kto"}, headers=admin_headers)
    assert client.get(f"/api/v1/exports/{first_other.json()['id']}", headers=admin_headers).json()["version"] == 1
    resp = client.get(f"/api/v1/exports/{ids[0]}/download", headers=admin_headers)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "conflict"


def test_full_run_in_process_then_download(live_admin):
    from app.main import create_app
    from worker.tasks.exports import run

    with TestClient(create_app()) as client:
        body = {"format": "sft-messages", "eval_fraction": 0.2, "seed": 1}
        created = client.post("/api/v1/projects/live-proj/exports", json=body, headers=live_admin)
        assert created.status_code == 202 and created.json()["status"] == "queued"
        export_id = created.json()["id"]
        run(export_id)
        run(export_id)  # a duplicate delivery finds it done and leaves it alone
        out = client.get(f"/api/v1/exports/{export_id}", headers=live_admin).json()
        assert out["status"] == "succeeded", out
        assert out["rows_done"] == out["rows_total"] == 12
        assert out["row_counts"]["train"] + out["row_counts"]["eval"] == 12
        zipped = client.get(f"/api/v1/exports/{export_id}/download", headers=live_admin)
        assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(zipped.content))
        names = set(archive.namelist())
        assert {"live-proj-v1-sft-messages/manifest.json", "live-proj-v1-sft-messages/train.jsonl"} <= names
        manifest = json.loads(archive.read("live-proj-v1-sft-messages/manifest.json"))
        assert manifest["snapshot_sha256"] == out["sha256"]
        assert manifest["provenance"]["created_by"]["email"] == "exporter@example.com"
        single = client.get(f"/api/v1/exports/{export_id}/download", params={"file": "train.jsonl"},
                            headers=live_admin)
        assert single.content == archive.read("live-proj-v1-sft-messages/train.jsonl")
        assert client.get(f"/api/v1/exports/{export_id}/download", params={"file": "../x"},
                          headers=live_admin).status_code == 404
        again = client.post("/api/v1/projects/live-proj/exports", json=body, headers=live_admin).json()["id"]
        run(again)
        assert client.get(f"/api/v1/exports/{again}", headers=live_admin).json()["sha256"] == out["sha256"]


def test_a_redelivered_message_restarts_a_dead_attempt(live_admin):
    from app.core.db import get_sessionmaker
    from app.exports.service import exports_root
    from app.main import create_app
    from worker.tasks.exports import run

    with TestClient(create_app()) as client:
        export_id = client.post("/api/v1/projects/live-proj/exports", json={"format": "preference"},
                                headers=live_admin).json()["id"]
    leftover = exports_root() / "live-proj" / f".tmp-{export_id}-deadbeef"
    leftover.mkdir(parents=True)
    with get_sessionmaker()() as session:
        export = session.get(Export, export_id)
        export.status, export.heartbeat_at, export.attempts = ExportStatus.running, utcnow() - timedelta(minutes=5), 1
        session.commit()
    run(export_id)
    with get_sessionmaker()() as session:
        export = session.get(Export, export_id)
        assert export.status == ExportStatus.succeeded and export.attempts == 2
    assert not leftover.exists()


def test_a_live_attempt_elsewhere_is_left_alone(live_admin):
    from app.core.db import get_sessionmaker
    from app.main import create_app
    from worker.tasks.exports import run

    with TestClient(create_app()) as client:
        export_id = client.post("/api/v1/projects/live-proj/exports", json={"format": "kto"},
                                headers=live_admin).json()["id"]
    with get_sessionmaker()() as session:
        export = session.get(Export, export_id)
        export.status, export.heartbeat_at = ExportStatus.running, utcnow()
        session.commit()
    run(export_id)
    with get_sessionmaker()() as session:
        assert session.get(Export, export_id).status == ExportStatus.running


def test_the_heartbeat_keeps_a_slow_phase_alive(live_admin, monkeypatch):
    import time

    from app.core.db import get_sessionmaker
    from app.exports.service import reap_stale_exports
    from app.main import create_app
    from worker.tasks import exports as task

    with TestClient(create_app()) as client:
        export_id = client.post("/api/v1/projects/live-proj/exports", json={"format": "kto"},
                                headers=live_admin).json()["id"]
    with get_sessionmaker()() as session:
        export = session.get(Export, export_id)
        export.status, export.heartbeat_at = ExportStatus.running, utcnow() - timedelta(minutes=5)
        session.commit()
    monkeypatch.setattr(task, "HEARTBEAT_EVERY_S", 0.05)
    with task.heartbeat(export_id):
        time.sleep(0.5)  # a phase that reports no rows, like hashing or the hf layout
    with get_sessionmaker()() as session:
        assert reap_stale_exports(session, stale_after_s=5) == 0
        assert session.get(Export, export_id).status == ExportStatus.running


def test_exports_filter_by_construction(client, db, admin_headers):
    """Provenance as an export filter: only the chosen construction methods go in."""
    from app.models import Approval, ApprovalMethod, Instruction, InstructionStatus, Project

    project = Project(name="Made", slug="made-how")
    db.add(project)
    db.flush()
    for how in ("human", "distilled", "template"):
        item = Instruction(project_id=project.id, instruction=f"Made by {how}", content_hash=how, construction=how,
                           status=InstructionStatus.approved)
        db.add(item)
        db.flush()
        db.add(Approval(project_id=project.id, instruction_id=item.id, final_response=f"{how} answer",
                        method=ApprovalMethod.api))
    db.flush()
    resp = client.post("/api/v1/projects/made-how/exports", headers=admin_headers,
                       json={"format": "sft-messages", "filters": {"construction": ["distilled", "template"]}})
    assert resp.status_code == 202, resp.text
    from app.models import Export

    assert db.get(Export, resp.json()["id"]).options["filters"] == {"construction": ["distilled", "template"]}
    bad = client.post("/api/v1/projects/made-how/exports", headers=admin_headers,
                      json={"format": "sft-messages", "filters": {"construction": ["by hand"]}})
    assert bad.status_code == 422 and "filters.construction" in bad.text
    from sqlalchemy import select

    from app.exports.source import approval_conditions

    rows = db.scalars(select(Instruction.instruction).where(*approval_conditions(
        project.id, {"filters": {"construction": ["distilled", "template"]}}))).all()
    assert sorted(rows) == ["Made by distilled", "Made by template"]
