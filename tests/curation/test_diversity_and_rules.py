"""The diversity kind with the real built-in all-MiniLM-L6-v2 in this (worker) process, and the quality-filter
kind with LIMA's preset over a project's instructions."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.jobs.runner import run_job
from app.models import CurationScore, JobItem, JobStatus, LeakageFlag
from tests.curation.conftest import create_job, job

TEXTS = ["How do I bake sourdough bread at home?", "How can I bake sourdough bread at home?",
         "Explain how photosynthesis works in plants.", "Write a haiku about the sea.", "List three prime numbers.",
         "Translate 'good morning' into Spanish.", "What is the boiling point of water at sea level?"]


def _project(texts: list[str], evaluation: list[str] = (), candidates: dict[int, tuple[str, float]] | None = None):
    from app.models import Candidate, Instruction, Project
    from app.users.service import create_user

    with get_sessionmaker()() as session:
        admin = create_user(session, email=f"a-{secrets.token_hex(3)}@example.com", password="correct horse battery",
                            role="admin")
        project = Project(name="Div", slug=f"div-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        ids = []
        for k, (text, split) in enumerate([(t, "train") for t in texts] + [(t, "eval") for t in evaluation]):
            inst = Instruction(project_id=project.id, instruction=text, split=split, content_hash=f"h{k}")
            session.add(inst)
            session.flush()
            ids.append(inst.id)
            if candidates and k in candidates:
                session.add(Candidate(instruction_id=inst.id, text=candidates[k][0], score=candidates[k][1]))
        session.commit()
        return {"admin": admin.id, "project": project.id, "slug": project.slug, "ids": ids}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_diversity_with_the_builtin_minilm_finds_paraphrases_clusters_and_leaks(live):
    import worker.embedding  # noqa: F401  (what the worker process imports: registers the local loader)

    seed = _project(TEXTS, evaluation=["Explain how photosynthesis works."])
    job_id = create_job(seed, "diversity", {"clusters": 3, "samples": 2})  # the default model: built-in MiniLM
    run_job(job_id)
    done = job(job_id)
    assert done.status == JobStatus.succeeded, done.error
    report = done.result
    assert report["embedding_model"] == "all-MiniLM-L6-v2" and report["items"] == 8
    # Two groups: the sourdough paraphrases, and the photosynthesis item with its evaluation twin.
    assert report["near_duplicate_groups"] == 2 and report["redundant"] == 2
    assert {s["text"] for s in report["groups"][0]["samples"]} == set(TEXTS[:2])
    assert len(report["clusters"]) == 3 and sum(c["size"] for c in report["clusters"]) == 8
    assert report["leaking"] == 1
    with get_sessionmaker()() as session:
        flag = session.scalar(select(LeakageFlag))
        assert (flag.instruction_id, flag.reference_id) == (seed["ids"][2], seed["ids"][-1])
        assert flag.similarity > 0.9
        reasons = dict(session.execute(select(JobItem.input["instruction_id"].as_integer(), JobItem.reason)
                                       .where(JobItem.job_id == job_id, JobItem.stage == "analyse")).all())
    assert reasons == {seed["ids"][1]: "near_duplicate", seed["ids"][-1]: "near_duplicate", seed["ids"][2]: "leak"}
    # A second job reuses every stored vector.
    again = create_job(seed, "diversity", {"clusters": 2})
    run_job(again)
    with get_sessionmaker()() as session:
        embeds = session.scalars(select(JobItem.output).where(JobItem.job_id == again, JobItem.stage == "embed"))
        assert sum(o["embedded"] for o in embeds) == 0


def test_lima_rules_refuse_with_reason_codes_and_keep_each_verdict(live):
    long_answer = "Quicksort partitions around a pivot and sorts both sides recursively. " * 20
    seed = _project(["Sort fast?", "Sort badly?", "Sort myself?", "Sort short?"], candidates={
        0: (long_answer, 25), 1: (long_answer, 2), 2: ("I " + long_answer, 30), 3: ("Use sort().", 40)})
    job_id = create_job(seed, "quality-filter", {"rules": {"preset": "lima"}})
    run_job(job_id)
    done = job(job_id)
    assert done.status == JobStatus.succeeded, done.error
    assert done.reasons == {"first_person": 1, "low_score": 1, "too_short": 1}
    assert done.result["passed"] == 1 and done.result["rules"]["min_chars"] == 1200
    with get_sessionmaker()() as session:
        verdicts = dict(session.execute(select(CurationScore.instruction_id, CurationScore.reason)).all())
    assert verdicts == {seed["ids"][0]: None, seed["ids"][1]: "low_score", seed["ids"][2]: "first_person",
                        seed["ids"][3]: "too_short"}
