"""Generation jobs through the API (no worker): model choice, errors, and which instructions the filter picks."""

from __future__ import annotations

import pytest

from app.models import Candidate, GenerationJob, Instruction, InstructionStatus, RunState, Split, TuningRun
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
