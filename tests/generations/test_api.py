"""Generations through the API (no worker): they are answer jobs on the job engine. A base model becomes a local
backend (registered once), a run becomes `run-<id>`; errors, the filter they hand the job, cancel, and the run
page's list of its own generation jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import Backend, Candidate, Instruction, InstructionStatus, Job, JobStatus, RunState, Split, TuningRun
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


def _succeeded_run(db, project):
    export = make_snapshot(db, project)
    run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/models/tiny",
                    state=RunState.succeeded, artifacts=[{"name": "adapter", "path": "/runs/x/adapter",
                                                          "size_bytes": 1}])
    db.add(run)
    db.flush()
    return run


def test_a_base_model_becomes_a_local_backend_and_an_answer_job(client, db, admin_headers, project):
    _instruction(db, project, "Name a colour")
    db.commit()
    body = {"project": project.slug, "model": "/models/tiny", "n": 3, "temperature": 0.5, "max_new_tokens": 32,
            "filter": {"max_candidates": 2, "split": "train"}}
    resp = client.post("/api/v1/generations", json=body, headers=admin_headers)
    assert resp.status_code == 202, resp.text
    out = resp.json()
    assert out["status"] == "queued" and out["backend"] == "tiny" and out["run_id"] is None
    assert out["base_model"] == "/models/tiny" and out["job_url"] == f"/jobs/{out['id']}"
    assert out["params"]["n"] == 3 and out["filter"]["max_candidates"] == 2 and out["filter"]["split"] == "train"
    job = db.get(Job, out["id"])
    assert job.kind == "answer" and job.backends == ["tiny"]
    assert job.params["max_tokens"] == 32 and job.params["construction"] == "self-generated"
    assert {k: v for k, v in job.params["filter"].items() if v is not None} == {
        "status": ["pending"], "split": ["train"], "max_candidates": 2, "limit": 100}
    backend = db.query(Backend).filter_by(name="tiny").one()
    assert backend.kind == "local" and backend.model == "/models/tiny"
    # The same model again reuses its backend; the job is readable as a generation and as a job.
    again = client.post("/api/v1/generations", json=body, headers=admin_headers).json()
    assert again["backend"] == "tiny" and db.query(Backend).count() == 1
    assert client.get(f"/api/v1/generations/{out['id']}", headers=admin_headers).json()["id"] == out["id"]
    assert client.get(f"/api/v1/jobs/{out['id']}", headers=admin_headers).json()["kind"] == "answer"


def test_a_run_must_have_succeeded_with_weights_to_generate(client, db, admin_headers, project):
    _instruction(db, project, "Name a colour")
    export = make_snapshot(db, project)
    run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/models/tiny",
                    state=RunState.running)
    db.add(run)
    db.commit()
    resp = client.post("/api/v1/generations", json={"project": project.slug, "model": run.id}, headers=admin_headers)
    assert resp.status_code == 409 and "succeeded" in resp.json()["error"]["message"]
    run.state = RunState.succeeded
    db.commit()
    resp = client.post("/api/v1/generations", json={"project": project.slug, "model": run.id}, headers=admin_headers)
    assert resp.status_code == 409 and "no adapter or merged weights" in resp.json()["error"]["message"]
    run.artifacts = [{"name": "adapter", "path": "/runs/x/adapter", "size_bytes": 1}]
    db.commit()
    resp = client.post("/api/v1/generations", json={"project": project.slug, "model": str(run.id)},
                       headers=admin_headers)
    assert resp.status_code == 202, resp.text
    assert resp.json()["backend"] == f"run-{run.id}" and resp.json()["run_id"] == run.id
    assert resp.json()["base_model"] == "/models/tiny"
    assert client.post("/api/v1/generations", json={"project": "nope", "model": "x"},
                       headers=admin_headers).status_code == 404
    bad = client.post("/api/v1/generations", json={"project": project.slug, "model": "x", "n": 0, "top_k": 3},
                      headers=admin_headers)
    assert bad.status_code == 422 and {"n", "top_k"} <= {d["field"] for d in bad.json()["error"]["details"]}


def test_a_filter_that_picks_nothing_is_refused_before_anything_is_queued(client, db, admin_headers, project):
    _instruction(db, project, "approved", status=InstructionStatus.approved)
    db.commit()
    resp = client.post("/api/v1/generations", json={"project": project.slug, "model": "/models/tiny"},
                       headers=admin_headers)
    assert resp.status_code == 422 and "No instruction" in resp.json()["error"]["message"]
    assert resp.json()["error"]["details"][0]["field"] == "params.filter"
    assert db.query(Job).count() == 0


def test_the_job_picks_pending_instructions_with_few_candidates(db, project):
    """What the job would answer: the filter as the generation API hands it to the answer kind."""
    from app.instructions.selection import InstructionFilter, filtered

    few = _instruction(db, project, "few", candidates=1)
    many = _instruction(db, project, "many", candidates=3)
    _instruction(db, project, "approved", status=InstructionStatus.approved)
    held = _instruction(db, project, "held out", split=Split.holdout)
    rules = InstructionFilter(status=["pending"], max_candidates=2, limit=10)
    assert list(db.scalars(filtered(db, project.id, rules, columns=(Instruction.id,)))) == [few.id, held.id]
    rules = InstructionFilter(status=["pending"], split=["train"], limit=10)
    assert list(db.scalars(filtered(db, project.id, rules, columns=(Instruction.id,)))) == [few.id, many.id]


def _job(db, project, *, status=JobStatus.queued, run=None, **values):
    backend = f"run-{run.id}" if run else "tiny"
    job = Job(project_id=project.id, kind="answer", params={"backend": backend}, backends=[backend], status=status,
              **values)
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
    running = _job(db, project, status=JobStatus.running, heartbeat_at=utcnow(), items_total=4)
    done = _job(db, project, status=JobStatus.succeeded, result={"candidates_added": 3})
    other = Job(project_id=project.id, kind="judge", params={}, status=JobStatus.queued)
    db.add(other)
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
    assert client.get(f"/api/v1/generations/{other.id}", headers=admin_headers).status_code == 404  # not a generation


def test_run_page_lists_and_cancels_its_own_jobs_and_shows_a_dead_workers_job_as_failed(client, db, make_user,
                                                                                          project):
    admin = make_user("admin")
    run, other = _succeeded_run(db, project), _succeeded_run(db, project)
    live = _job(db, project, status=JobStatus.running, run=run, heartbeat_at=utcnow())
    dead = _job(db, project, status=JobStatus.running, run=run, heartbeat_at=utcnow() - timedelta(minutes=10))
    _job(db, project, status=JobStatus.running, run=other, heartbeat_at=utcnow())
    db.commit()
    login(client, admin.email)
    page = client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert f'action="/runs/{run.id}/generations/{live.id}/cancel"' in page.text
    assert f'href="/jobs/{live.id}"' in page.text
    assert "stopped answering" in page.text  # the page reaped the job whose worker went silent
    assert f'action="/runs/{run.id}/generations/{dead.id}/cancel"' not in page.text
    token = csrf_from(client)
    wrong = client.post(f"/runs/{other.id}/generations/{live.id}/cancel", data={"csrftoken": token})
    assert wrong.status_code == 404
    resp = client.post(f"/runs/{run.id}/generations/{live.id}/cancel", data={"csrftoken": token},
                       follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/runs/{run.id}#generations"
    db.expire_all()
    assert db.get(Job, live.id).status == JobStatus.cancelled
    assert db.get(Job, dead.id).status == JobStatus.failed
