"""The judge kind against a scripted OpenAI-compatible judge with known verdicts: both orders, position bias,
ties, unparsable verdicts, missing answers, resume; exact win rates and counts; the result page."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.evaluation.judges import JUDGE_SYSTEM
from app.jobs.runner import run_job
from app.models import EvaluationAnswer, Instruction, ItemStatus, JobItem, JobStatus
from tests.conftest import login
from tests.evaluation.conftest import create, job_row
from tests.support.openai_server import chat_reply, last_user_text

TASK = re.compile(r"Task (\d+):")


def _is_judge(body) -> bool:
    return body.get("messages", [{}])[0].get("content") == JUDGE_SYSTEM


def pairwise_script(fixed: set[int] | None = None):
    """The teacher answers 'TUNED ...'; the judge's verdict depends on the task number:
    0-3 prefer TUNED in both orders, 4 prefers the base, 5 always says A (position bias), 6 ties,
    7 gives no verdict (unless fixed: then it prefers TUNED)."""
    fixed = fixed or set()

    def script(path, body, headers):
        text = last_user_text(body)
        task = int(TASK.search(text).group(1))
        if not _is_judge(body):
            return chat_reply(f"TUNED answer for task {task}" + " more" * task)
        tuned_first = text.index("TUNED") < text.index("base says")
        if task <= 3:
            verdict = "[[A]]" if tuned_first else "[[B]]"
        elif task == 4:
            verdict = "[[B]]" if tuned_first else "[[A]]"
        elif task == 5:
            verdict = "[[A]]"
        elif task == 6:
            verdict = "[[C]]"
        else:
            verdict = ("[[A]]" if tuned_first else "[[B]]") if 7 in fixed else ""
        return chat_reply(f"Comparing both. {verdict or 'I cannot decide between these two.'}")
    return script


def test_pairwise_judge_exact_win_rate_ties_inconsistencies_failures_and_resume(evalproject, scripted):
    scripted.script = pairwise_script()
    evalproject["backend"]("teacher", scripted.url, "teacher-1", max_concurrency=4)
    evalproject["backend"]("judge", scripted.url, "judge-1", max_concurrency=4)
    job_id = create(evalproject, "judge", {"evaluation_set": "core", "models": ["answers:base", "teacher"],
                                           "judge": "judge", "mode": "pairwise"})
    run_job(job_id)
    job = job_row(job_id)
    assert job.status == JobStatus.succeeded, job.error
    result = job.result
    assert result["baseline"] == "answers:base"
    assert result["models"] == {"answers:base": {"answered": 8, "missing": 1}, "teacher": {"answered": 9, "missing": 0}}
    c = result["comparisons"]["teacher"]
    # Tasks 0-3 won, 4 lost, 5 inconsistent (a tie), 6 tied, 7 unparsable (failed), 8 has no baseline answer.
    assert (c["n"], c["wins"], c["losses"], c["ties"], c["inconsistent"], c["failed"]) == (7, 4, 1, 2, 1, 1)
    assert c["win_rate"] == pytest.approx(5 / 7)
    scores = [1, 1, 1, 1, 0, 0.5, 0.5]
    se = np.std(scores, ddof=1) / math.sqrt(7)
    assert c["ci_low"] == pytest.approx(5 / 7 - 1.959964 * se, abs=1e-5)
    assert c["ci_high"] == pytest.approx(min(1.0, 5 / 7 + 1.959964 * se), abs=1e-5)
    assert 0 < c["lc_win_rate"] < 1
    assert result["verdicts"]["teacher"][f"{_iid(evalproject, 5)}"] == "tie"
    with get_sessionmaker()() as session:
        failed = session.execute(select(JobItem.stage, JobItem.error).where(
            JobItem.job_id == job_id, JobItem.status == ItemStatus.failed)).all()
        assert sorted(stage for stage, _ in failed) == ["answer", "judge", "judge"]
        assert all("I cannot decide" in e for stage, e in failed if stage == "judge")
        missing = next(e for stage, e in failed if stage == "answer")
        assert "answers:base" in missing and "Task 8" in missing and "Import" in missing
        # Answers are kept for human comparisons; the set's members never reach a training export.
        kept = session.scalars(select(EvaluationAnswer.model).where(EvaluationAnswer.set_id == evalproject["set_id"]))
        assert sorted(set(kept)) == ["answers:base", "teacher"]
        assert set(session.scalars(select(Instruction.evaluation_only).where(
            Instruction.project_id == evalproject["project"]))) == {True}

    # The judge is fixed; "retry failed" asks again (a fresh request, not the stored reply) and the job resumes.
    judged = len([b for b in scripted.bodies() if _is_judge(b)])
    scripted.script = pairwise_script(fixed={7})
    from app.jobs.service import retry_failed

    with get_sessionmaker()() as session:
        retry_failed(session, job_id=job_id)
        session.commit()
    run_job(job_id)
    c = job_row(job_id).result["comparisons"]["teacher"]
    assert (c["n"], c["wins"], c["failed"]) == (8, 5, 0) and c["win_rate"] == pytest.approx(6 / 8)
    assert len([b for b in scripted.bodies() if _is_judge(b)]) == judged + 2  # only the two retried judgements

    # The job page shows the win rate, its interval and the judge's (missing) calibration.
    with TestClient(__import__("app.main", fromlist=["create_app"]).create_app()) as client:
        login(client, evalproject["admin_email"])
        page = client.get(f"/jobs/{job_id}").text
    assert "75.0%" in page and "not calibrated" in page and 'data-inconsistent>1<' in page


def _iid(evalproject, task: int) -> int:
    with get_sessionmaker()() as session:
        return session.scalar(select(Instruction.id).where(Instruction.project_id == evalproject["project"],
                                                           Instruction.instruction.like(f"Task {task}:%")))


def test_single_answer_judge_scores_and_unparsable_replies(evalproject, scripted):
    def script(path, body, headers):
        text = last_user_text(body)
        task = int(TASK.search(text).group(1))
        if not _is_judge(body):
            return chat_reply(f"TUNED {task}")
        if task == 2:
            return chat_reply("A fine answer, really.")  # no rating: a failed item with the text
        score = 8 if "TUNED" in text else 4
        return chat_reply(f"Reasonable. Rating: [[{score}]]")

    scripted.script = script
    evalproject["backend"]("teacher", scripted.url, max_concurrency=4)
    evalproject["backend"]("judge", scripted.url, "judge-1", max_concurrency=4)
    job_id = create(evalproject, "judge", {"evaluation_set": "core", "models": ["answers:base", "teacher"],
                                           "judge": "judge", "mode": "single", "limit": 6})
    run_job(job_id)
    job = job_row(job_id)
    assert job.status == JobStatus.succeeded, job.error
    scores = job.result["scores"]
    assert scores["teacher"] == {"mean": 8.0, "sd": 0.0, "n": 5, "failed": 1}
    assert scores["answers:base"] == {"mean": 4.0, "sd": 0.0, "n": 5, "failed": 1}
    with get_sessionmaker()() as session:
        outputs = session.scalars(select(JobItem.output).where(JobItem.job_id == job_id, JobItem.stage == "judge",
                                                               JobItem.status == ItemStatus.done)).all()
        assert all(o["reason"] == "Reasonable." for o in outputs)
        errors = session.scalars(select(JobItem.error).where(JobItem.job_id == job_id,
                                                             JobItem.status == ItemStatus.failed)).all()
        assert len(errors) == 2 and all("A fine answer, really." in e and "no rating" in e for e in errors)


def test_bad_parameters_are_refused_naming_the_field(evalproject, scripted):
    from app.core.errors import ValidationFailed

    evalproject["backend"]("judge", scripted.url)
    for params, field in (({"evaluation_set": "nope", "models": ["answers:base", "judge"], "judge": "judge"},
                           "params.evaluation_set"),
                          ({"evaluation_set": "core", "models": ["answers:base"], "judge": "judge"}, "params"),
                          ({"evaluation_set": "core", "models": ["answers:base", "ghost"], "judge": "judge"},
                           "params.models")):
        with pytest.raises(ValidationFailed) as caught:
            create(evalproject, "judge", params)
        assert any(d["field"].startswith(field) for d in caught.value.details), caught.value.details
