"""The render-templates job on a real database: rows become instructions with a reference candidate and Flan's
metadata; the same seed gives the same bytes; bad rows are rejected naming the template and the record."""

from __future__ import annotations

from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.models import Candidate, Instruction, Job, JobItem, JobStatus
from tests.flan.conftest import REVIEWS, add_template, render

ZERO = {"name": "liked", "jinja": "{{ review }}\nDid the diner like it? ||| {{ answer_choices[label] }}",
        "answer_choices": "no ||| yes"}
FEW = {"name": "liked_fs", "type": "few-shot", "jinja": "{{ review }} ||| {{ answer_choices[label] }}",
       "answer_choices": "no ||| yes", "few_shot": {"input_prefix": "Review: ", "target_prefix": "Liked: "}}
TITLED = {"name": "titled", "jinja": "{{ title }}: {{ review }} ||| {{ answer_choices[label] }}",
          "answer_choices": "no ||| yes"}


def _rows(job_id: int) -> list[tuple]:
    with get_sessionmaker()() as session:
        rows = session.execute(select(Instruction, Candidate)
                               .join(Candidate, Candidate.instruction_id == Instruction.id)
                               .where(Instruction.job_id == job_id).order_by(Instruction.id)).tuples().all()
        return [(i.instruction, c.text, c.origin.value, i.construction, i.source, i.meta) for i, c in rows]


def test_rows_carry_flan_metadata_and_a_reference_candidate(flan_project):
    zero = add_template(flan_project["slug"], **ZERO)
    few = add_template(flan_project["slug"], **FEW)
    job_id = render(flan_project, seed=3, tokenizer="whitespace")
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        # 24 records x (zero-shot in zs-opt, zs-noopt + few-shot in fs-opt, fs-noopt)
        assert (job.items_total, job.items_done) == (96, 96)
        assert job.result["by_setting"] == {"zs-opt": 24, "zs-noopt": 24, "fs-opt": 24, "fs-noopt": 24}
        assert job.result["tokenizer"] == "whitespace (words split on spaces)"
    rows = _rows(job_id)
    assert {(origin, construction, source) for _, _, origin, construction, source, _ in rows} == {
        ("reference", "template", "Flan2021")}
    first = next(r for r in rows if r[5]["record"] == 1 and r[5]["_template_type"] == "zs-noopt")
    assert first[0] == "Review 1: the soup was great and the bread 1.\nDid the diner like it?" and first[1] == "yes"
    meta = first[5]
    assert {k: meta[k] for k in ("_task_name", "_task_source", "_template_idx", "_template_type", "_template_kind",
                                 "template_id", "template_version")} == {
        "_task_name": "soup_sentiment", "_task_source": "Flan2021", "_template_idx": 0, "_template_type": "zs-noopt",
        "_template_kind": "zero-shot", "template_id": zero, "template_version": 1}
    opt = next(r for r in rows if r[5]["record"] == 1 and r[5]["_template_type"] == "zs-opt")
    assert opt[0].startswith(first[0] + "\n\n") and opt[0].splitlines()[-2:][0].endswith("no")
    fs = next(r for r in rows if r[5]["record"] == 1 and r[5]["_template_type"] == "fs-noopt")
    assert fs[5]["template_id"] == few and fs[5]["exemplars"] == 3
    assert fs[0].count("Review: ") == 4 and fs[0].endswith("Review: Review 1: the soup was great and the bread 1.\n"
                                                           "Liked:")


def test_the_same_seed_renders_the_same_bytes_and_another_seed_does_not(flan_project):
    add_template(flan_project["slug"], **ZERO)
    add_template(flan_project["slug"], **FEW)
    first = _rows(render(flan_project, seed=11, tokenizer="whitespace"))
    with get_sessionmaker()() as session:  # clear the rows, so the same job renders them again
        for inst in session.scalars(select(Instruction)):
            session.delete(inst)
        session.commit()
    again = _rows(render(flan_project, seed=11, tokenizer="whitespace"))
    assert [r[:2] for r in again] == [r[:2] for r in first]
    other = _rows(render(flan_project, seed=12, tokenizer="whitespace"))
    assert [r[:2] for r in other] != [r[:2] for r in first]


def test_rendering_twice_is_recorded_not_repeated(flan_project):
    add_template(flan_project["slug"], **ZERO)
    render(flan_project, settings=["zs-noopt"], tokenizer="whitespace")
    job_id = render(flan_project, settings=["zs-noopt"], tokenizer="whitespace")
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job.reasons == {"already_rendered": 24} and job.result["rows_added"] == 0


def test_bad_rows_are_rejected_naming_template_and_record(flan_project):
    add_template(flan_project["slug"], **TITLED)
    job_id = render(flan_project, settings=["zs-noopt"], tokenizer="whitespace")
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        missing = sum(1 for r in REVIEWS if "title" not in r)
        assert job.reasons == {"undefined_field": missing} and job.items_done == len(REVIEWS) - missing
        item = session.scalars(select(JobItem).where(JobItem.job_id == job_id, JobItem.status == "rejected")
                               .order_by(JobItem.id)).first()
        assert item.output["message"] == ("record 0 of 'soups', template 'titled' v1 (zs-noopt): "
                                          "'title' is undefined")
        assert session.scalar(select(Instruction.id).where(Instruction.job_id == job_id,
                                                           Instruction.meta["record"].as_integer() == 0)) is None


def test_few_shot_rows_are_pruned_under_the_budget(flan_project):
    add_template(flan_project["slug"], **FEW)
    job_id = render(flan_project, settings=["fs-noopt"], k=5, token_budget=40, tokenizer="whitespace")
    rows = _rows(job_id)
    assert len(rows) == 24
    assert all(len(text.split()) <= 40 for text, *_ in rows)
    assert {r[5]["exemplars"] for r in rows} == {2}  # five asked for, two fit (about 13 words each)
    tight = render(flan_project, settings=["fs-noopt"], k=5, token_budget=20, seed=1, tokenizer="whitespace")
    with get_sessionmaker()() as session:
        job = session.get(Job, tight)
        assert job.reasons == {"exemplars_over_budget": 24}
        message = session.scalars(select(JobItem.output).where(JobItem.job_id == tight)).first()["message"]
        assert "not even one exemplar fits in the 20-token budget (the query alone has 12 tokens)" in message
