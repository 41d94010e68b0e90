"""A real run of the tiny model through the API and a real worker, on each broker; then generation."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from tests.tuning.livehelp import client, events, live_setup, wait_run

pytestmark = pytest.mark.training


def test_run_trains_the_tiny_model_and_its_adapter_generates_candidates(start_worker, tiny_model, model_server,
                                                                       monkeypatch):
    from app.core.db import get_sessionmaker
    from app.models import Candidate, Instruction, InstructionStatus
    from tests.tuning.conftest import run_body

    monkeypatch.setenv("TUNELOOP_MODEL_SERVER_URL", model_server.url)  # the worker's jobs ask it for the run
    headers, project, export = live_setup()
    worker = start_worker(queues="default,training")
    with client() as api:
        resp = api.post("/api/v1/tuning-runs", json=run_body(project, export, tiny_model), headers=headers)
        assert resp.status_code == 202, resp.text
        run_id = resp.json()["id"]
        run = wait_run(api, headers, run_id, lambda r: r["state"] in ("succeeded", "failed", "cancelled"),
                       message="the run to finish")
        assert run["state"] == "succeeded", (run, worker.output()[-3000:])
        assert {c["name"] for c in run["checks"]} >= {"train_file", "tokenizer", "loss_mask"}
        assert run["progress"]["step"] == run["progress"]["total_steps"] == 6
        logs = events(api, headers, run_id, "log")
        assert [e["data"]["step"] for e in logs] == [1, 2, 3, 4, 5, 6]
        assert all(e["data"]["loss"] > 0 for e in logs)
        assert run["evaluation"]["loss_after"] is not None and len(run["evaluation"]["samples"]) == 2
        states = [e["data"]["state"] for e in events(api, headers, run_id, "state")]
        assert states == ["created", "validating", "queued", "running", "finalizing", "succeeded"]

        # The adapter was saved and LoRA's B matrices (zero at initialisation) moved.
        names = {a["name"] for a in run["artifacts"]}
        assert {"adapter", "config"} <= names
        listed = api.get(f"/api/v1/tuning-runs/{run_id}/artifacts", headers=headers).json()
        files = {f["name"] for f in next(a for a in listed if a["name"] == "adapter")["files"]}
        assert "adapter_model.safetensors" in files
        got = api.get(f"/api/v1/tuning-runs/{run_id}/artifacts/adapter", params={"file": "adapter_model.safetensors"},
                      headers=headers)
        assert got.status_code == 200
        from app.tuning.spec import output_dir

        weights = load_file(str(output_dir(run_id) / "adapter" / "adapter_model.safetensors"))
        lora_b = [t for name, t in weights.items() if "lora_B" in name]
        assert lora_b and any(float(t.abs().sum()) > 0 for t in lora_b)

        # Close the loop: the tuned model writes candidates for pending instructions.
        with get_sessionmaker()() as session:
            ids = []
            for i in range(3):
                item = Instruction(project_id=project.id, instruction=f"What is {i} plus 2?", content_hash=f"h{i}")
                session.add(item)
                session.flush()
                ids.append(item.id)
            session.commit()
        job = api.post("/api/v1/generations", json={"project": project.slug, "model": run_id, "n": 2,
                                                    "max_new_tokens": 8, "filter": {"max_candidates": 1}},
                       headers=headers)
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        import time

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            body = api.get(f"/api/v1/generations/{job_id}", headers=headers).json()
            if body["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert body["status"] == "succeeded", (body, worker.output()[-3000:])
        assert body["progress"] == {"done": 3, "total": 3}
        with get_sessionmaker()() as session:
            cands = session.query(Candidate).filter(Candidate.instruction_id.in_(ids)).all()
            assert len(cands) == body["candidates_added"] == 6
            assert {c.model for c in cands} == {f"tiny+run-{run_id}"} and {c.run_id for c in cands} == {run_id}
            assert {c.origin.value for c in cands} == {"model"}
            statuses = {i.status for i in session.query(Instruction).filter(Instruction.id.in_(ids))}
            assert statuses == {InstructionStatus.pending}
