"""The grounded-qa job on both databases against a scripted teacher: exact items per passage, exact refusal
targets, borrowed questions from other passages, reason codes for a backend that answers without a question,
and provenance on every instruction and candidate."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.core.errors import ValidationFailed
from app.jobs.runner import run_job
from app.models import Candidate, Instruction, Job, JobStatus, Passage
from tests.grounded.conftest import REFUSAL, create


def test_grounded_job_makes_exact_items_per_passage_with_provenance(seeded, scripted, collection):
    seeded["backend"]("writer", scripted.url, max_concurrency=4)
    seeded["backend"]("teacher", scripted.url, max_concurrency=4)
    params = {"question_backend": "writer", "answer_backend": "teacher", "questions_per_passage": 2,
              "title_statements": True, "invented": True, "refusal": REFUSAL, "seed": 3}
    job_id = create(seeded, "grounded-qa", params)
    run_job(job_id)
    maker = get_sessionmaker()
    with maker() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        # The statement-only passage's two question prompts came back without a question.
        assert job.reasons == {"not_a_question": 2}
        passages = {p.id: p for p in session.scalars(select(Passage).where(Passage.project_id == seeded["project"]))}
        assert len(passages) == 4
        made = session.scalars(select(Instruction).where(Instruction.job_id == job_id)).all()
        per_passage = Counter((i.meta["passage_id"], i.meta["statement"]) for i in made)
        bad = next(pid for pid, p in passages.items() if "FACT-BAD" in p.text)
        for pid in passages:
            expected = {"question": 0 if pid == bad else 2, "title": 1, "other_passage": 1, "invented": 1}
            assert {k: per_passage[(pid, k)] for k in expected} == expected, pid
        assert job.result["answerable"] == 3 * 2 + 4 and job.result["unanswerable"] == 4 + 4
        cands = {c.instruction_id: c for c in session.scalars(select(Candidate).where(Candidate.job_id == job_id))}
        assert len(cands) == len(made)
        for item in made:
            passage = passages[item.meta["passage_id"]]
            assert item.input == passage.text and item.split.value == "train" and item.source == "grounded-qa"
            assert item.meta["document_id"] == passage.document_id and item.meta["licence"] == "CC-BY-4.0"
            assert REFUSAL in item.system
            target = cands[item.id]
            if item.meta["answerable"]:
                assert target.text != REFUSAL and target.origin.value == "model"
                assert (target.construction, target.backend, target.model) == ("distilled", "teacher", "teacher-1")
            else:
                assert target.text == REFUSAL  # exactly the setting, whatever words the teacher used
                assert target.origin.value == "reference" and target.construction == "template"
            if item.meta["statement"] == "title":
                assert item.construction == "template" and item.backend == ""
                assert item.instruction in (f"Tell me about {h}" for h in ("Harbour", "Lamps", "Tides", "Ships")) or \
                    item.instruction.startswith("Describe ")
            else:
                assert (item.construction, item.backend, item.model) == ("distilled", "writer", "teacher-1")
        # Borrowed questions come from a passage of the other document and were written for it.
        for item in made:
            if item.meta["statement"] == "other_passage":
                donor = passages[item.meta["borrowed_from"]]
                assert donor.document_id != passages[item.meta["passage_id"]].document_id
                assert donor.id != bad and donor.text.split("FACT-")[1][:1] in item.instruction
    # Every answerable question was asked of the teacher once; nothing twice.
    answers = [b for b in scripted.bodies() if "Answer the following" in str(b)]
    assert len(answers) == len({str(b) for b in answers}) == 6 + 4 + 4


def test_running_again_adds_nothing_and_deleted_document_items_are_marked(seeded, scripted, collection):
    seeded["backend"]("teacher", scripted.url, max_concurrency=4)
    with pytest.raises(ValidationFailed) as err:  # nothing to evaluate yet
        create(seeded, "grounded-eval", {"backend": "teacher"})
    assert err.value.details[0]["field"] == "params.split"
    params = {"question_backend": "teacher", "answer_backend": "teacher", "documents": [collection["harbour.md"]],
              "unanswerable": True, "seed": 1}
    first = create(seeded, "grounded-qa", params)
    run_job(first)
    again = create(seeded, "grounded-qa", params)
    run_job(again)
    maker = get_sessionmaker()
    with maker() as session:
        one, two = session.get(Job, first), session.get(Job, again)
        # Two passages of one document: each borrows from its only other passage (a neighbour, but the only one).
        assert (one.result["answerable"], one.result["unanswerable"]) == (2, 2)
        assert two.result["instructions"] == 0 and two.reasons == {"duplicate": 4}
        from app.documents.service import delete_document

        assert delete_document(session, collection["harbour.md"]) == 4
        session.commit()
        assert all(i.source_deleted_at is not None for i in session.scalars(
            select(Instruction).where(Instruction.job_id == first)))
