"""Reviewed grounded items become training data: the txtinstruct format and the chat formats (context in the
user turn), items of a deleted document left out, and the tiny model trains a few steps on the export."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.core.db import get_engine, get_sessionmaker
from app.jobs.runner import run_job
from app.models import Instruction, Project, User
from tests.grounded.conftest import REFUSAL, create
from tests.training import conftest as training

tiny_model = training.tiny_model  # the session's tiny model, built once by the training library's command


def _build(project: Project, root, fmt: str):
    from app.exports.schemas import ExportCreate
    from app.exports.snapshot import Spec, build_snapshot

    spec = Spec(len(list(root.glob("*"))) + 1, project.id, project.slug, 1, fmt, ExportCreate(format=fmt).options())
    with get_engine().begin() as conn:
        return build_snapshot(conn, spec, root, provenance={})


@pytest.mark.training
def test_export_formats_leave_out_deleted_documents_and_the_tiny_model_trains(seeded, scripted, collection,
                                                                               tiny_model, tmp_path):
    from app.documents.service import delete_document
    from app.review.service import approve

    seeded["backend"]("teacher", scripted.url, max_concurrency=4)
    job_id = create(seeded, "grounded-qa", {"question_backend": "teacher", "answer_backend": "teacher",
                                            "title_statements": True, "refusal": REFUSAL})
    run_job(job_id)
    maker = get_sessionmaker()
    with maker() as session:
        reviewer = session.get(User, seeded["admin"])
        items = session.scalars(select(Instruction).where(Instruction.job_id == job_id)).all()
        assert len(items) == 4 + 3 + 4  # titles, questions (not of the statement-only passage), unanswerable
        for item in items:  # an annotator's correction on one answer, the teacher's answer for the rest
            corrected = item.meta["answerable"] and item.meta["statement"] == "question" and "FACT-1" in item.input
            approve(session, instruction=item, by=reviewer,
                    final_response="FACT-1 is the granite harbour wall." if corrected else item.candidates[0].text)
        for name in ("tides", "ships"):  # the JSONL file's two documents
            delete_document(session, collection[name])
        session.commit()
        kept = [i for i in items if i.meta["document_id"] == collection["harbour.md"]]
        project = session.get(Project, seeded["project"])

    rows = [json.loads(line) for line in (_build(project, tmp_path / "t", "txtinstruct").path / "train.jsonl")
            .read_text().splitlines()]
    assert len(rows) == len(kept) == 6
    assert {r["context"] for r in rows} == {i.input for i in kept}  # nothing of the deleted document
    by_source = {r["statements"][0]["source"]: r["statements"][0]["target"] for r in rows}
    assert all(set(r) == {"context", "statements"} and len(r["statements"]) == 1 for r in rows)
    for item in kept:
        target = by_source[item.instruction]
        assert target == REFUSAL if not item.meta["answerable"] else target != REFUSAL
    assert "FACT-1 is the granite harbour wall." in by_source.values()

    chat = [json.loads(line) for line in (_build(project, tmp_path / "c", "sft-messages").path / "train.jsonl")
            .read_text().splitlines()]
    assert len(chat) == 6
    for row in chat:
        system, user, assistant = row["messages"]
        assert system["role"] == "system" and REFUSAL in system["content"]
        question, _, context = user["content"].partition("\n\n")
        assert question in by_source and context in {i.input for i in kept}  # the passage, in the user turn
        assert assistant["content"] == by_source[question]

    if "sqlite" not in get_engine().url.drivername:
        return  # the training library reads files, not a database: once is enough
    train = tmp_path / "t"
    data = next(train.rglob("train.jsonl"))
    spec = training.write_spec(tmp_path / "spec.json", base_model=str(tiny_model), train_file=str(data),
                               output_dir=str(tmp_path / "out"), data_format="txtinstruct",
                               hyperparameters={"max_steps": 3, "save_steps": 3, "max_length": 256},
                               eval={"enabled": False})
    code, events, stderr = training.run_cli("run", str(spec))
    assert code == 0, stderr
    (completed,) = training.by_event(events, "completed")
    assert completed["step"] == 3 and completed["train_loss"] > 0
    assert any(e["name"] == "adapter" for e in training.by_event(events, "artifact"))


def test_txtinstruct_prompt_is_the_same_in_the_app_and_the_training_library():
    from app.grounded.prompts import TXTINSTRUCT_PROMPT as in_app
    from worker.training.data import TXTINSTRUCT_PROMPT as in_trainer

    assert in_app == in_trainer
