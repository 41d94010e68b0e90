"""Every run evaluated: a run that names an evaluation starts it when it succeeds (against the previous round's
run), the run page shows the result beside the snapshot, and the rounds page lines the rounds up."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from rapidfuzz.distance import Levenshtein
from sqlalchemy import select

from app.core.config import get_settings
from app.core.db import get_sessionmaker
from app.jobs.runner import run_job
from app.models import (
    Annotation,
    AnnotationStatus,
    Approval,
    ApprovalMethod,
    Candidate,
    Export,
    ExportStatus,
    Instruction,
    InstructionStatus,
    Job,
    JobStatus,
    RunState,
    TuningRun,
)
from tests.conftest import login
from tests.evaluation.test_judge import TASK
from tests.support.openai_server import chat_reply, last_user_text


def _export(session, project_id: int, version: int, approval_ids: list[int]) -> Export:
    folder = get_settings().data_dir / "exports" / f"p{project_id}" / f"v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "approval_ids.txt").write_text("".join(f"{i}\n" for i in approval_ids))
    export = Export(project_id=project_id, version=version, format="sft-messages", status=ExportStatus.succeeded,
                    path=str(folder), sha256=f"{version:064d}", row_counts={"train": len(approval_ids)},
                    files=[{"name": "train.jsonl", "split": "train", "rows": len(approval_ids)}])
    session.add(export)
    session.flush()
    return export


def _approved(session, project_id: int, name: str, texts: list[tuple[str, str]], final: int,
              construction: str = "human") -> tuple[Approval, list[Candidate]]:
    inst = Instruction(project_id=project_id, instruction=name, content_hash=name, status=InstructionStatus.approved,
                       construction=construction)
    session.add(inst)
    session.flush()
    cands = [Candidate(instruction_id=inst.id, text=t, origin=o, construction="self-generated" if o == "model"
                       else "human") for t, o in texts]
    session.add_all(cands)
    session.flush()
    approval = Approval(instruction_id=inst.id, project_id=project_id, final_response=cands[final].text,
                        final_candidate_id=cands[final].id, ranking=[[c.id] for c in cands],
                        method=ApprovalMethod.api)
    session.add(approval)
    session.flush()
    return approval, cands


def test_a_round_is_evaluated_when_its_run_succeeds_and_lines_up_on_the_rounds_page(evalproject, scripted):
    pid = evalproject["project"]
    with get_sessionmaker()() as session:
        first, _ = _approved(session, pid, "Round one data", [("ref answer", "imported")], 0)
        export1 = _export(session, pid, 1, [first.id])
        run1 = TuningRun(project_id=pid, export_id=export1.id, method="sft-lora", base_model="/models/tiny",
                         state=RunState.succeeded, name="round 1")
        session.add(run1)
        # Round two: candidates the first run generated; one was chosen, one was edited into another's approval.
        chosen, _ = _approved(session, pid, "Generated A", [("gen good", "model"), ("gen bad", "model")], 0,
                              construction="self-generated")
        edited, cands = _approved(session, pid, "Generated B", [("the gen draft", "model"), ("human", "imported")], 1)
        session.add(Annotation(instruction_id=edited.instruction_id, user_id=evalproject["admin"],
                               status=AnnotationStatus.submitted, corrected_candidate_id=cands[0].id,
                               correction="the fixed draft"))
        export2 = _export(session, pid, 2, [first.id, chosen.id, edited.id])
        session.flush()
        run2 = TuningRun(project_id=pid, export_id=export2.id, method="sft-lora", base_model="/models/tiny",
                         state=RunState.finalizing, name="round 2",
                         settings={"evaluation": {"evaluation_set": "core", "judge": "judge", "baseline": None,
                                                  "reference_metrics": True}})
        session.add(run2)
        session.commit()
        run1_id, run2_id = run1.id, run2.id

    def script(path, body, headers):
        text = last_user_text(body)
        if body["messages"][0]["content"].startswith("You are a careful"):
            return chat_reply("[[A]]" if text.index("NEW") < text.index("OLD") else "[[B]]")
        return chat_reply(f"{'NEW' if body['model'] == 'new' else 'OLD'} the number {TASK.search(text).group(1)}")

    scripted.script = script
    evalproject["backend"](f"run-{run1_id}", scripted.url, "old", max_concurrency=4)
    evalproject["backend"](f"run-{run2_id}", scripted.url, "new", max_concurrency=4)
    evalproject["backend"]("judge", scripted.url, "judge-1", max_concurrency=4)

    from app.tuning import relay

    with get_sessionmaker()() as session:
        relay.finish(session, run2_id, outcome=RunState.succeeded)
        session.commit()
        jobs = session.scalars(select(Job).order_by(Job.id)).all()
        models = [f"run-{run1_id}", f"run-{run2_id}"]
        assert [(j.kind, j.params["models"]) for j in jobs] == [("judge", models), ("reference-metrics", models)]
        job_ids = [j.id for j in jobs]
    for job_id in job_ids:
        run_job(job_id)
    with get_sessionmaker()() as session:
        judged = session.get(Job, job_ids[0])
        assert judged.status == JobStatus.succeeded, judged.error
        assert judged.result["comparisons"][f"run-{run2_id}"]["win_rate"] == 1.0

    with TestClient(__import__("app.main", fromlist=["create_app"]).create_app()) as client:
        login(client, evalproject["admin_email"])
        page = client.get(f"/runs/{run2_id}").text
        assert f"Evaluation against run-{run1_id}" in page and "100.0%</strong> win rate" in page
        assert f"{2:064d}" in page and "self-generated 1" in page and "human 2" in page
        assert "not calibrated" in page and "ROUGE-L" in page
        rounds = client.get(f"/api/v1/projects/{evalproject['slug']}/rounds").json()
        html = client.get(f"/projects/{evalproject['slug']}/rounds").text
    assert [r["run_id"] for r in rounds] == [run1_id, run2_id]
    one, two = rounds
    assert one["win_rate"] is None and one["snapshot"]["new_approvals"] == 1
    assert two["win_rate"] == 1.0 and two["vs"] == f"run-{run1_id}" and two["snapshot"]["new_approvals"] == 2
    # Generated candidates of round two: "gen good" chosen, "the gen draft" edited in, "gen bad" not: 2 of 3.
    assert (two["generated"], two["accepted"]) == (3, 2) and two["acceptance_rate"] == round(2 / 3, 4)
    assert two["edit_distance"] == round(Levenshtein.normalized_distance("the gen draft", "the fixed draft"), 4)
    chart = json.loads(re.search(r'<script type="application/json" id="rounds-data">(.*?)</script>', html, re.S)[1])
    assert chart["round"] == [1, 2] and chart["win_rate"] == [None, 1.0]
