"""The curate kind end to end on both databases: exactly N with every pair under the threshold, rounds that never
readmit a near-duplicate, leaks flagged and refused at export, and clear refusals for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.core.errors import ValidationFailed
from app.jobs.runner import run_job
from app.models import Embedding, JobItem, JobStatus, LeakageFlag
from tests.curation.conftest import create_job, job

THRESHOLD = 0.9


def _vectors(ids: list[int]) -> np.ndarray:
    with get_sessionmaker()() as session:
        rows = dict(session.execute(select(Embedding.instruction_id, Embedding.vector)
                                    .where(Embedding.instruction_id.in_(ids))).all())
    return np.stack([np.frombuffer(rows[i], dtype="<f2").astype(np.float32) for i in ids])


def _max_pair(ids: list[int]) -> float:
    v = _vectors(ids)
    sims = v @ v.T
    np.fill_diagonal(sims, -1)
    return float(sims.max())


def _curate(seed, **params) -> int:
    job_id = create_job(seed, "curate", {"embedding_model": "teacher", "threshold": THRESHOLD, **params})
    run_job(job_id)
    return job_id


def test_rounds_add_exactly_n_and_never_readmit_a_near_duplicate(curation_project, client_for_live):
    seed = curation_project
    first = _curate(seed, target_n=6, subset="best", quality={"backend": "teacher"})
    done = job(first)
    assert done.status == JobStatus.succeeded, done.error
    assert done.result["subset"] == "best" and done.result["selected"] == 6 and done.result["ranked_by"] == "judge"
    api = client_for_live.get(f"/api/v1/projects/{seed['slug']}/subsets/best")
    assert api.status_code == 200
    round_one = api.json()["instruction_ids"]
    assert api.json()["name"] == "best" and len(round_one) == 6
    # Score-first: the judge gave the rephrasings 5 and the bases 3, so each topic enters by its rephrasing.
    variants = {seed["ids"][(t, "variant")] for t in range(10)}
    assert set(round_one) <= variants
    assert _max_pair(round_one) < THRESHOLD
    page = client_for_live.get(f"/jobs/{first}")
    assert page.status_code == 200 and 'data-result="selected">6<' in page.text
    assert "judge" in client_for_live.get(f"/projects/{seed['slug']}/curation").text

    # Round two walks in id order (no ranking), so it meets each topic's base before its rephrasing: the bases of
    # the topics the subset holds must be turned away, the others admitted.
    second = _curate(seed, target_n=4, subset="best", rank_by="none")
    assert job(second).status == JobStatus.succeeded, job(second).error
    both = client_for_live.get(f"/api/v1/projects/{seed['slug']}/subsets/best").json()["instruction_ids"]
    assert len(both) == 10 and both[:6] == round_one and len(set(both)) == 10
    assert _max_pair(both) < THRESHOLD
    held_topics = [t for t in range(10) if seed["ids"][(t, "variant")] in round_one]
    with get_sessionmaker()() as session:
        decided = {i.output["instruction_id"]: i for i in session.scalars(
            select(JobItem).where(JobItem.job_id == second, JobItem.stage == "select"))}
    for topic in held_topics:
        base = decided[seed["ids"][(topic, "base")]]
        assert base.reason in ("near_duplicate", "leak"), (topic, base.output)
        if base.reason == "near_duplicate":
            assert base.output["held"] and base.output["similar_to"] == seed["ids"][(topic, "variant")]
    assert set(both[6:]) == {seed["ids"][(t, "base")] for t in range(10) if t not in held_topics}

    # Every topic is taken: one more cannot be had without a near-duplicate, and the job says so.
    third = _curate(seed, target_n=1, subset="best")
    failed = job(third)
    assert failed.status == JobStatus.failed
    assert "Only 0 of the 1 asked for" in failed.error and "Nothing was saved" in failed.error
    assert len(client_for_live.get(f"/api/v1/projects/{seed['slug']}/subsets/best").json()["instruction_ids"]) == 10


def test_a_leaking_item_is_flagged_and_refused_at_export(curation_project, tmp_path):
    from app.exports.schemas import ExportCreate
    from app.exports.snapshot import Spec, build_snapshot
    from app.models import Project

    seed = curation_project
    job_id = _curate(seed, target_n=5, subset="s")
    assert job(job_id).status == JobStatus.succeeded, job(job_id).error
    leaking = seed["ids"][(0, "base")]
    with get_sessionmaker()() as session:
        flags = session.scalars(select(LeakageFlag)).all()
        assert [(f.instruction_id, f.reference_id) for f in flags] == [(leaking, seed["evaluation"])]
        item = session.scalar(select(JobItem).where(JobItem.job_id == job_id, JobItem.reason == "leak"))
        assert item.output["instruction_id"] == leaking and item.output["similarity"] >= THRESHOLD
        project = session.get(Project, seed["project"])
        options = ExportCreate(format="sft-alpaca").options()
        result = build_snapshot(session.connection(), Spec(1, project.id, project.slug, 1, "sft-alpaca", options),
                                tmp_path, provenance={})
        rows = json.loads((result.path / "train.json").read_text())
        manifest = json.loads((result.path / "manifest.json").read_text())["content"]
    exported = {r["instruction"] for r in rows}
    assert len(rows) == 19 and base_of_topic_0() not in exported
    assert manifest["leakage_excluded"] == 1
    assert manifest["construction"]["instructions"] == {"human": 19, "template": 0, "distilled": 0,
                                                        "self-generated": 0}
    # The subset filter: only what the subset holds (and still never the leaking item).
    with get_sessionmaker()() as session:
        options = ExportCreate(format="sft-alpaca", filters={"subset": "s"}).options()
        result = build_snapshot(session.connection(), Spec(2, project.id, project.slug, 2, "sft-alpaca", options),
                                tmp_path, provenance={})
    assert len(json.loads((result.path / "train.json").read_text())) == 5


def base_of_topic_0() -> str:
    from tests.curation.conftest import base_text

    return base_text(0)


def test_bad_input_gets_clear_errors(curation_project, monkeypatch):
    seed = curation_project
    with pytest.raises(ValidationFailed) as too_many:
        create_job(seed, "curate", {"target_n": 21, "embedding_model": "teacher"})
    assert too_many.value.details[0]["field"] == "params.target_n"
    assert "more than the 20 instructions available" in too_many.value.message
    with pytest.raises(ValidationFailed) as missing:
        create_job(seed, "curate", {"target_n": 2, "embedding_model": "/nowhere/model"})
    assert missing.value.details[0]["field"] == "params.embedding_model"
    assert "'/nowhere/model' is not there" in missing.value.message
    monkeypatch.setenv("TUNELOOP_EMBEDDING_MODEL", "/also/nowhere")
    from app.core.config import get_settings

    get_settings.cache_clear()
    with pytest.raises(ValidationFailed) as from_setting:
        create_job(seed, "curate", {"target_n": 2})
    assert from_setting.value.details[0]["field"] == "TUNELOOP_EMBEDDING_MODEL"
    assert "Set TUNELOOP_EMBEDDING_MODEL" in from_setting.value.message
    get_settings.cache_clear()


def test_a_judge_that_refuses_fails_the_item_with_its_words(curation_project):
    from app.models import Instruction

    seed = curation_project
    with get_sessionmaker()() as session:
        inst = session.get(Instruction, seed["ids"][(3, "base")])
        inst.instruction = "REFUSE " + inst.instruction
        blank = Instruction(project_id=seed["project"], instruction="no answer yet", content_hash="blank")
        session.add(blank)
        session.commit()
    job_id = create_job(seed, "quality-score", {"backend": "teacher"})
    run_job(job_id)
    done = job(job_id)
    assert done.status == JobStatus.succeeded, done.error
    # The blank instruction and the evaluation item have no response to judge: rejected, named.
    assert (done.items_done, done.items_failed, done.reasons) == (19, 1, {"no_response": 2})
    with get_sessionmaker()() as session:
        failed = session.scalar(select(JobItem).where(JobItem.job_id == job_id, JobItem.status == "failed"))
    assert "no score on its first line" in failed.error and "I'm sorry" in failed.output["text"]
    assert done.result["histogram"] == {"1": 0, "2": 0, "3": 9, "4": 0, "5": 10}
    assert done.result["kept_at_threshold"] == 10


def test_left_out_by_rules_counts_only_the_candidates(curation_project):
    """A rule refusal of an evaluation item is no training candidate passed over: curate's 'left out' figure and its
    select items name only the training instructions it considered."""
    from app.curation import scores
    from app.models import ScoreKind

    seed = curation_project
    refused_train = seed["ids"][(3, "base")]
    with get_sessionmaker()() as session:
        scores.record(session, project_id=seed["project"], kind=ScoreKind.rules, source="rules",
                      rows=[{"instruction_id": i, "passed": False, "reason": "too_short"}
                            for i in (refused_train, seed["evaluation"])])
        session.commit()
    done = job(_curate(seed, target_n=2, subset="picked", leakage=False))
    assert done.status == JobStatus.succeeded, done.error
    assert done.result["left_out"] == {"quality_rules": 1}
    with get_sessionmaker()() as session:
        decided = {i.output["instruction_id"]: i.reason for i in session.scalars(
            select(JobItem).where(JobItem.job_id == done.id, JobItem.stage == "select"))}
    assert decided[refused_train] == "quality_rules" and seed["evaluation"] not in decided
