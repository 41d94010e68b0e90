"""Run lifecycle through the REST API without a worker: admin-only, validation, cancel, reaper, artifacts."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from app.models import RunState, TuningRun
from app.models.base import utcnow
from tests.conftest import login
from tests.tuning.conftest import make_project, make_snapshot, run_body


@pytest.fixture
def setup(db, admin_headers):
    project = make_project(db)
    export = make_snapshot(db, project)
    db.commit()  # a refused request rolls its session back; the fixtures must outlive it
    return project, export


def test_admin_creates_a_run_that_waits_for_validation(client, db, admin_headers, setup):
    project, export = setup
    resp = client.post("/api/v1/tuning-runs", json=run_body(project, export, "/models/tiny"), headers=admin_headers)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["state"] == "created" and body["export_id"] == export.id
    assert body["settings"]["hyperparameters"]["max_steps"] == 6
    assert body["created_at"].endswith(("+00:00", "Z"))  # UTC offset on SQLite too
    events = client.get(f"/api/v1/tuning-runs/{body['id']}/events", headers=admin_headers).json()
    assert [e["event"] for e in events] == ["state"] and events[0]["data"]["state"] == "created"
    listed = client.get("/api/v1/tuning-runs", params={"project": project.slug}, headers=admin_headers).json()
    assert [r["id"] for r in listed] == [body["id"]]


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_only_admins_start_cancel_resume_clone_and_generate(client, db, make_user, token_for, admin_headers,
                                                           setup, role):
    project, export = setup
    headers = token_for(make_user(role))
    db.commit()  # a refused request rolls its session back; the users must outlive it
    body = run_body(project, export, "/models/tiny")
    assert client.post("/api/v1/tuning-runs", json=body, headers=headers).status_code == 403
    created = client.post("/api/v1/tuning-runs", json=body, headers=admin_headers)
    assert created.status_code == 202, created.text
    run_id = created.json()["id"]
    for action in ("cancel", "resume", "clone"):
        resp = client.post(f"/api/v1/tuning-runs/{run_id}/{action}", headers=headers)
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    resp = client.post("/api/v1/generations", json={"project": project.slug, "model": "/models/tiny"},
                       headers=headers)
    assert resp.status_code == 403
    # Reviewers may follow a run's state; annotators reach nothing of tuning (issue 6).
    seen = client.get(f"/api/v1/tuning-runs/{run_id}", headers=headers)
    if role == "reviewer":
        assert seen.status_code == 200 and seen.json()["state"] == "created"
    else:
        assert seen.status_code == 403 and client.get("/api/v1/tuning-runs", headers=headers).status_code == 403


def test_bad_requests_name_the_problem(client, db, admin_headers, setup):
    project, export = setup
    body = run_body(project, export, "/models/tiny")
    resp = client.post("/api/v1/tuning-runs", json={**body, "method": "dpo-lora"}, headers=admin_headers)
    assert resp.status_code == 422 and "preference" in resp.json()["error"]["message"]
    resp = client.post("/api/v1/tuning-runs", json={**body, "export_id": 999999}, headers=admin_headers)
    assert resp.status_code == 404
    resp = client.post("/api/v1/tuning-runs", json={**body, "hyperparameters": {"learning_rat": 1}},
                       headers=admin_headers)
    assert resp.status_code == 422 and "learning_rat" in resp.text
    assert db.query(TuningRun).count() == 0


def test_cancel_before_start_and_what_cannot_be_resumed(client, db, admin_headers, setup):
    project, export = setup
    body = run_body(project, export, "/m")
    run_id = client.post("/api/v1/tuning-runs", json=body, headers=admin_headers).json()["id"]
    resp = client.post(f"/api/v1/tuning-runs/{run_id}/cancel", headers=admin_headers)
    assert resp.status_code == 202 and resp.json()["state"] == "cancelled"
    assert client.post(f"/api/v1/tuning-runs/{run_id}/cancel", headers=admin_headers).status_code == 409
    resp = client.post(f"/api/v1/tuning-runs/{run_id}/resume", headers=admin_headers)
    assert resp.status_code == 409 and "checkpoint" in resp.json()["error"]["message"]
    clone = client.post(f"/api/v1/tuning-runs/{run_id}/clone", headers=admin_headers).json()
    assert clone["state"] == "created" and clone["cloned_from_id"] == run_id
    assert clone["settings"] == client.get(f"/api/v1/tuning-runs/{run_id}", headers=admin_headers).json()["settings"]


def test_running_run_with_a_silent_heartbeat_is_reaped_on_page_load(client, db, make_user, setup):
    project, export = setup
    admin = make_user("admin")
    run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                    state=RunState.running, heartbeat_at=utcnow() - timedelta(minutes=10),
                    checkpoint_path="/x/checkpoint-4", checkpoint_step=4)
    fresh = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                      state=RunState.running, heartbeat_at=utcnow())
    db.add_all([run, fresh])
    db.flush()
    login(client, admin.email)
    page = client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert "Worker lost" in page.text and "Resume from step 4" in page.text
    db.expire_all()
    assert db.get(TuningRun, run.id).state == RunState.failed
    assert db.get(TuningRun, run.id).error_kind == "worker_lost"
    assert db.get(TuningRun, fresh.id).state == RunState.running


def test_a_validation_whose_worker_went_silent_is_reaped_and_can_be_cloned(client, db, make_user, token_for,
                                                                           setup):
    project, export = setup
    admin = make_user("admin")
    silent = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                       state=RunState.validating, heartbeat_at=utcnow() - timedelta(minutes=10))
    # Entered validation before validations beat: no heartbeat at all, only its last change.
    legacy = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                       state=RunState.validating, updated_at=utcnow() - timedelta(minutes=10))
    beating = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                        state=RunState.validating, heartbeat_at=utcnow())
    waiting = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                        state=RunState.queued, heartbeat_at=utcnow() - timedelta(minutes=10))
    db.add_all([silent, legacy, beating, waiting])
    db.flush()
    login(client, admin.email)
    page = client.get(f"/runs/{silent.id}")
    assert page.status_code == 200 and "Worker lost during validation" in page.text
    db.expire_all()
    assert [db.get(TuningRun, r.id).state for r in (silent, legacy, beating, waiting)] == [
        RunState.failed, RunState.failed, RunState.validating, RunState.queued]
    headers = token_for(admin)
    run = client.get(f"/api/v1/tuning-runs/{silent.id}", headers=headers).json()
    assert run["error_kind"] == "worker_lost" and "clone the run" in run["error"]
    events = client.get(f"/api/v1/tuning-runs/{silent.id}/events", headers=headers).json()
    assert [e["data"]["state"] for e in events] == ["failed"]
    resumed = client.post(f"/api/v1/tuning-runs/{silent.id}/resume", headers=headers)
    assert resumed.status_code == 409  # validation left no checkpoint
    clone = client.post(f"/api/v1/tuning-runs/{silent.id}/clone", headers=headers)
    assert clone.status_code == 202 and clone.json()["state"] == "created"


def test_artifacts_download_and_refuse_paths_outside_the_run(client, db, admin_headers, setup, tmp_path):
    from app.tuning.spec import run_dir

    project, export = setup
    run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                    state=RunState.succeeded)
    db.add(run)
    db.flush()
    # Rows made here bypass the service, and the other database's run may have used the same id and folder.
    shutil.rmtree(run_dir(run.id), ignore_errors=True)
    adapter = run_dir(run.id) / "output" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    secret = tmp_path / "secret.txt"
    secret.write_text("nope")
    run.artifacts = [{"name": "adapter", "path": str(adapter), "size_bytes": 8},
                     {"name": "log", "path": str(secret), "size_bytes": 4}]
    db.flush()
    listed = client.get(f"/api/v1/tuning-runs/{run.id}/artifacts", headers=admin_headers).json()
    assert [a["name"] for a in listed] == ["adapter"]
    url = f"/api/v1/tuning-runs/{run.id}/artifacts/adapter"
    one = client.get(url, params={"file": "adapter_config.json"}, headers=admin_headers)
    assert one.status_code == 200 and one.json() == {"r": 8}
    archive = client.get(url, headers=admin_headers)
    assert archive.status_code == 200 and archive.content[:2] == b"PK"
    for bad in ("../../../../etc/passwd", "/etc/passwd", "../adapter/../../spec.json"):
        assert client.get(url, params={"file": bad}, headers=admin_headers).status_code == 404
    assert client.get(f"/api/v1/tuning-runs/{run.id}/artifacts/log", headers=admin_headers).status_code == 404
