"""Comparison data: GPT-4-LLM's scored responses and several models' Alpaca-format answers as scored candidates
of one instruction, a 1-10 rescore, approval by score with ties, and ranked lists and pairs in the exports."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.annotation.schemas import FeedbackIn
from app.annotation.service import push_feedback
from app.core.errors import ValidationFailed
from app.imports.files import ImportFailed
from app.imports.service import import_file
from app.models import Instruction
from app.projects.schemas import ProjectCreate
from app.projects.service import create_project
from app.review.service import approve
from tests.exports.test_snapshot import build, lines

PROMPT = "Name three primary colours."


@pytest.fixture
def project(db):
    settings = {"rating_scale": "1-10", "require_ranking": False}
    made = create_project(db, data=ProjectCreate(name="Comparisons", settings=settings), by=None)
    db.flush()
    return made


def _write(path, rows, array=False):
    path.write_text(json.dumps(rows) if array else "".join(json.dumps(r) + "\n" for r in rows))
    return path


def _instruction(db, project) -> Instruction:
    return db.scalars(select(Instruction).where(Instruction.project_id == project.id)).one()


def test_comparison_rows_become_scored_candidates_of_one_instruction(db, project, tmp_path):
    rows = [{"user_input": PROMPT, "responses_and_scores": [
                {"response": "Red, yellow and blue.", "score": 9.0, "source": "gpt4"},
                {"response": "Red and blue.", "score": 5.0, "source": "gpt35"}]},
            {"user_input": PROMPT, "responses_and_scores": [  # the same prompt again: one instruction
                {"response": "Red, green and blue light.", "score": 9, "source": "opt-iml"}]}]
    result = import_file(db, project=project, path=_write(tmp_path / "comparison_data.json", rows, array=True))
    assert result.format == "comparison" and result.created == 1
    inst = _instruction(db, project)
    cands = {(c.model, c.score) for c in inst.candidates}
    assert cands == {("gpt4", 9.0), ("gpt35", 5.0), ("opt-iml", 9.0)}
    # Three models' Alpaca answer files join the same instruction as scored candidates, by file or generator.
    _write(tmp_path / "llama.jsonl", [{"instruction": PROMPT, "input": "", "output": "Blue.", "score": 2}])
    _write(tmp_path / "answers.jsonl", [{"instruction": PROMPT, "output": "Cyan, magenta, yellow.", "score": 5,
                                         "generator": "alpaca-7b"}])
    import_file(db, project=project, path=tmp_path / "llama.jsonl", fmt="answers")
    assert import_file(db, project=project, path=tmp_path / "answers.jsonl").format == "answers"
    inst = _instruction(db, project)
    db.refresh(inst)
    assert {(c.model, c.score) for c in inst.candidates} >= {("llama", 2.0), ("alpaca-7b", 5.0)}
    assert len(inst.candidates) == 5

    # Approved with no annotations: ranked by score, equal scores tied.
    approval = approve(db, instruction=inst, by=None)
    by_id = {c.id: c.model for c in inst.candidates}
    assert [sorted(by_id[c] for c in tier) for tier in approval.ranking] == [
        ["gpt4", "opt-iml"], ["alpaca-7b", "gpt35"], ["llama"]]
    assert approval.final_candidate_id in {c.id for c in inst.candidates if c.model in ("gpt4", "opt-iml")}

    ranked = lines(build(db, project, tmp_path / "r", "ranking").path / "train.jsonl")
    assert len(ranked) == 1 and ranked[0]["prompt"] == PROMPT and ranked[0]["ranks"] == [1, 1, 2, 2, 3]
    tiers = [set(), set(), set()]
    for text, rank in zip(ranked[0]["responses"], ranked[0]["ranks"], strict=True):
        tiers[rank - 1].add(text)
    assert tiers == [{"Red, yellow and blue.", "Red, green and blue light."},
                     {"Red and blue.", "Cyan, magenta, yellow."}, {"Blue."}]
    pairs = lines(build(db, project, tmp_path / "p", "preference").path / "train.jsonl")
    # Every ordered pair across tiers, none inside a tier: 2x2 + 2x1 + 2x1 = 8.
    assert len(pairs) == 8
    assert ("Red, yellow and blue.", "Red, green and blue light.") not in {(p["chosen"], p["rejected"]) for p in pairs}
    assert {"chosen": "Red and blue.", "rejected": "Blue.", "prompt": PROMPT} in pairs


def test_annotators_rescore_on_one_to_ten(db, project, tmp_path, make_user):
    rows = [{"user_input": PROMPT, "responses_and_scores": [
        {"response": "A", "score": 3, "source": "x"}, {"response": "B", "score": 8, "source": "y"}]}]
    import_file(db, project=project, path=_write(tmp_path / "c.jsonl", rows), fmt="comparison")
    inst = _instruction(db, project)
    a, b = inst.candidates
    annotator = make_user("annotator")
    push_feedback(db, instruction_id=inst.id, user=annotator,
                  data=FeedbackIn(ratings={str(a.id): 10, str(b.id): 1}))
    with pytest.raises(ValidationFailed, match="not on the scale"):
        push_feedback(db, instruction_id=inst.id, user=make_user("annotator"),
                      data=FeedbackIn(ratings={str(a.id): 11, str(b.id): 1}))
    approval = approve(db, instruction=inst, by=None)  # the annotator's scores now decide, not the imported ones
    assert approval.ranking == [[a.id], [b.id]]


@pytest.mark.parametrize(("row", "message"), [
    ({"user_input": PROMPT, "responses_and_scores": []}, "non-empty list"),
    ({"user_input": PROMPT, "responses_and_scores": [{"response": "x", "score": "high", "source": "m"}]},
     r"responses_and_scores\[0\]\.score must be a number"),
    ({"user_input": PROMPT, "responses_and_scores": [{"score": 1, "source": "m"}]},
     r"responses_and_scores\[0\]\.response is missing"),
    ({"responses_and_scores": []}, "missing 'user_input'"),
])
def test_bad_comparison_rows_name_file_line_and_field(db, project, tmp_path, row, message):
    path = _write(tmp_path / "bad.jsonl", [{"user_input": "ok", "responses_and_scores": [
        {"response": "x", "score": 1, "source": "m"}]}, row])
    with pytest.raises(ImportFailed, match=rf"bad\.jsonl:2: .*{message}"):
        import_file(db, project=project, path=path, fmt="comparison")


def test_bad_answer_rows_name_the_field(db, project, tmp_path):
    path = _write(tmp_path / "m.jsonl", [{"instruction": PROMPT, "output": 5}])
    with pytest.raises(ImportFailed, match=r"m\.jsonl:1: 'output' must be a string"):
        import_file(db, project=project, path=path, fmt="answers")
    path = _write(tmp_path / "n.jsonl", [{"instruction": PROMPT, "output": "x", "score": "good"}])
    with pytest.raises(ImportFailed, match=r"n\.jsonl:1: 'score' must be a number"):
        import_file(db, project=project, path=path, fmt="answers")
