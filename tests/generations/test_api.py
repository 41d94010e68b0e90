"""Generation jobs through the API (no worker): model choice, errors, which instructions the filter picks, cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import (
    Candidate,
    GenerationJob,
    GenerationStatus,
    Instruction,
    InstructionStatus,
    RunState,
    Split,
    TuningRun,
)
from app.models.base import utcnow
from tests.conftest import csrf_from, login
from tests.tuning.conftest import make_project, make_snapshot


@pytest.fixture
def project(db, admin_headers):
    project = make_project(db)
    db.commit()
    return project


def _instruction(db, project, text, *, status=InstructionStatus.pending, split=Split.train, candidates=0):
    item = Instruction(project_id=project.id, instruction=text, content_hash=text, status=status, split=split)
    db.add(item)
    db.flush()
    db.add_all(Candidate(instruction_id=item.id, text=f"answer {i}") for i in range(candidates))
    db.flush()
    return item


def test_job_for_a_base_model_is_queued_with_its_name(client, db, admin_headers, project):
    body = {"project": project.slug, "model": "/models/tiny", "n": 3, "temperature": 0.5,
            "filter": {"max_candidates": 2, "split": "train"}}
    resp = client.post("/api/v1/generations", json=body, headers=admin_headers)
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["status"] == "queued" and job["model_name"] == "tiny" and job["run_id"] is None
    assert job["params"]["n"] == 3 and job["filter"]["max_candidates"] == 2
    assert client.get(f"/api/v1/generations/{job['id']}", headers=admin_headers).json()["id"] == job["id"]


def test_a_run_must_have_succeeded_to_generate(client, db, admin_headers, project):
    export = make_snapshot(db, project)
    run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/models/tiny",
                    state=RunState.running)
    db.add(run)
    db.commit()
    resp = client.post("/api/v1/generations", json={"project": project.slug, "model": run.id}, headers=admin_headers)
    assert resp.status_code == 409 and "succeeded" in resp.json()["error"]["message"]
    run.state = RunState.succeeded
    run.artifacts = [{"name": "adapter", "path": "/runs/x/adapter", "size_bytes": 1}]
    db.commit()
    resp = client.post("/api/v1/generations", json={"project": project.slug, "model": str(run.id)},
                       headers=admin_headers)
    assert resp.status_code == 202 and resp.json()["model_name"] == f"tiny+run-{run.id}"
    assert resp.json()["run_id"] == run.id
    assert client.post("/api/v1/generations", json={"project": "nope", "model": "x"},
                       headers=admin_headers).status_code == 404
    bad = client.post("/api/v1/generations", json={"project": project.slug, "model": "x", "n": 0, "top_k": 3},
                      headers=admin_headers)
    assert bad.status_code == 422 and {"n", "top_k"} <= {d["field"] for d in bad.json()["error"]["details"]}


def test_filter_picks_pending_instructions_with_few_candidates(db, project):
    from app.generations.service import pick_instructions, prompt_messages

    few = _instruction(db, project, "few", candidates=1)
    many = _instruction(db, project, "many", candidates=3)
    _instruction(db, project, "approved", status=InstructionStatus.approved)
    held = _instruction(db, project, "held out", split=Split.holdout)
    job = GenerationJob(project_id=project.id, base_model="/m", model_name="m",
                        filter={"max_candidates": 2, "status": "pending", "limit": 10})
    assert [i.id for i in pick_instructions(db, job)] == [few.id, held.id]
    job.filter = {"status": "pending", "split": "train", "limit": 10}
    assert [i.id for i in pick_instructions(db, job)] == [few.id, many.id]
    few.system, few.input = "Be brief.", "extra"
    few.history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert prompt_messages(few) == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": "hello"},
                                    {"role": "user", "content": "few\n\nextra"}]


def _job(db, project, *, status=GenerationStatus.queued, run=None, **values):
    job = GenerationJob(project_id=project.id, base_model="/m", model_name="m", status=status,
                        run_id=run.id if run else None, **values)
    db.add(job)
    db.flush()
    return job


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_only_admins_cancel_a_generation(client, db, make_user, token_for, admin_headers, project, role):
    job = _job(db, project)
    headers = token_for(make_user(role))
    db.commit()
    resp = client.post(f"/api/v1/generations/{job.id}/cancel", headers=headers)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert client.get(f"/api/v1/generations/{job.id}", headers=admin_headers).json()["status"] == "queued"


def test_cancel_stops_queued_and_running_jobs_and_refuses_finished_ones(client, db, admin_headers, project):
    queued = _job(db, project)
    running = _job(db, project, status=GenerationStatus.running, heartbeat_at=utcnow(), instructions_total=4)
    done = _job(db, project, status=GenerationStatus.succeeded, candidates_added=3)
    db.commit()
    for job in (queued, running):
        resp = client.post(f"/api/v1/generations/{job.id}/cancel", headers=admin_headers)
        assert resp.status_code == 202, resp.text
        assert resp.json()["status"] == "cancelled" and resp.json()["finished_at"] is not None
        again = client.post(f"/api/v1/generations/{job.id}/cancel", headers=admin_headers)
        assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]
    resp = client.post(f"/api/v1/generations/{done.id}/cancel", headers=admin_headers)
    assert resp.status_code == 409 and "already succeeded" in resp.json()["error"]["message"]
    assert client.get(f"/api/v1/generations/{done.id}", headers=admin_headers).json()["candidates_added"] == 3
    assert client.post("/api/v1/generations/2147000001/cancel", headers=admin_headers).status_code == 404


def test_run_page_cancels_its_own_jobs_and_shows_a_dead_workers_job_as_failed(client, db, make_user, project):
    admin = make_user("admin")
    export = make_snapshot(db, project)
    run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                    state=RunState.succeeded)
    other = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                      state=RunState.succeeded)
    db.add_all([run, other])
    db.flush()
    live = _job(db, project, status=GenerationStatus.running, run=run, heartbeat_at=utcnow())
    dead = _job(db, project, status=GenerationStatus.running, run=run,
                heartbeat_at=utcnow() - timedelta(minutes=10))
    db.commit()
    login(client, admin.email)
    page = client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert f'action="/runs/{run.id}/generations/{live.id}/cancel"' in page.text
    assert "Worker lost" in page.text  # the page reaped the job whose worker went silent
    assert f'action="/runs/{run.id}/generations/{dead.id}/cancel"' not in page.text
    token = csrf_from(client)
    wrong = client.post(f"/runs/{other.id}/generations/{live.id}/cancel", data={"csrftoken": token})
    assert wrong.status_code == 404
    resp = client.post(f"/runs/{run.id}/generations/{live.id}/cancel", data={"csrftoken": token},
                       follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/runs/{run.id}#generations"
    db.expire_all()
    assert db.get(GenerationJob, live.id).status == GenerationStatus.cancelled
    assert db.get(GenerationJob, dead.id).status == GenerationStatus.failed
