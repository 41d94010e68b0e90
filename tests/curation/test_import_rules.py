"""Quality rules while importing: refused rows are not stored, each verdict is an item of a quality-filter job with
its reason code, and kept responses are stored stripped of links and HTML."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.curation.importing import parse_rules
from app.imports.service import import_file
from app.models import Candidate, Instruction, Job, JobItem, Project

ANSWER = ("Use a [binary search](https://example.com/bs) on the sorted list: compare with the middle element and "
          "keep the half that can still hold the target. <b>Each step halves the range.</b> ") * 9


def test_lima_rules_on_import(db, tmp_path):
    project = Project(name="Q&A", slug="qa-import")
    db.add(project)
    db.flush()
    rows = [
        {"instruction": "How do I search a sorted list fast?", "output": ANSWER, "score": 42},
        {"instruction": "Low votes?", "output": ANSWER, "score": 3},
        {"instruction": "Too short?", "output": "Use bisect.", "score": 99},
        {"instruction": "In my words?", "output": "My advice: " + ANSWER, "score": 50},
    ]
    path = tmp_path / "se.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = import_file(db, project=project, path=path, fmt="alpaca", quality=parse_rules("lima"))
    assert (result.rows, result.created) == (4, 1)
    assert result.refused == {"first_person": 1, "low_score": 1, "too_short": 1}
    stored = db.scalars(select(Instruction).where(Instruction.project_id == project.id)).all()
    assert [i.instruction for i in stored] == ["How do I search a sorted list fast?"]
    text = db.scalar(select(Candidate.text).where(Candidate.instruction_id == stored[0].id))
    assert "https://" not in text and "<b>" not in text and "binary search on the sorted list" in text
    job = db.get(Job, result.quality_job_id)
    assert (job.kind, job.status.value, job.items_done, job.items_rejected) == ("quality-filter", "succeeded", 1, 3)
    assert job.result["import"] == "se.jsonl"
    refused = db.scalars(select(JobItem).where(JobItem.job_id == job.id, JobItem.status == "rejected")
                         .order_by(JobItem.id)).all()
    assert [(i.input["line"], i.reason) for i in refused] == [(2, "low_score"), (3, "too_short"), (4, "first_person")]


def test_rules_given_as_json_and_bad_ones_named():
    assert parse_rules('{"preset": "lima", "min_score": 5}').resolved().min_score == 5
    with pytest.raises(ValueError, match="give 'lima', 'none' or a JSON object"):
        parse_rules('{"preset": "lima", "min_chars": -3}')
    with pytest.raises(ValueError):
        parse_rules("strict")
