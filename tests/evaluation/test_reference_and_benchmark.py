"""Reference metrics and multiple-choice benchmarks as jobs: ROUGE-L by reference length and exact match against
the set; log-likelihood accuracy through /v1/completions with echo and logprobs; clear per-item errors."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.core.errors import ValidationFailed
from app.evaluation.rouge import rouge_l
from app.jobs.runner import run_job
from app.models import BenchmarkTask, ItemStatus, JobItem, JobStatus
from tests.evaluation.conftest import N_MEMBERS, create, job_row
from tests.support.openai_server import Reply, chat_reply, last_user_text


def test_rouge_l_and_exact_match_per_model(evalproject, scripted):
    scripted.script = lambda path, body, headers: chat_reply("the number is small")
    evalproject["backend"]("teacher", scripted.url, max_concurrency=4)
    job_id = create(evalproject, "reference-metrics", {"evaluation_set": "core", "models": ["teacher", "answers:base"],
                                                       "metrics": ["rouge_l", "exact_match"]})
    run_job(job_id)
    job = job_row(job_id)
    assert job.status == JobStatus.succeeded, job.error
    teacher = job.result["scores"]["teacher"]
    expected = sum(rouge_l("the number is small", f"the number {i} is small") for i in range(N_MEMBERS)) / N_MEMBERS
    assert teacher["rouge"]["rouge_l"] == pytest.approx(expected, abs=1e-6)
    assert teacher["rouge"]["by_length"]["3-5"]["n"] == N_MEMBERS and teacher["rouge"]["n"] == N_MEMBERS
    # Labels: references of the classification tasks (0, 3, 6); nobody matches them exactly.
    assert teacher["exact_match"] == {"accuracy": 0.0, "n": 3}
    base = job.result["scores"]["answers:base"]
    assert base["rouge"]["n"] == N_MEMBERS - 1 and job.result["models"]["answers:base"]["missing"] == 1


def test_reference_metrics_refuse_a_set_without_references(evalproject, scripted):
    from app.evaluation.sets import create_set
    from app.instructions.selection import InstructionFilter
    from app.models import Instruction, Project

    with get_sessionmaker()() as session:
        project = session.get(Project, evalproject["project"])
        inst = Instruction(project_id=project.id, instruction="No reference here", content_hash="nr")
        session.add(inst)
        session.flush()
        create_set(session, project=project, name="bare", rules=InstructionFilter(ids=[inst.id]))
        session.commit()
    evalproject["backend"]("teacher", scripted.url)
    with pytest.raises(ValidationFailed, match="no reference answers") as caught:
        create(evalproject, "reference-metrics", {"evaluation_set": "bare", "models": ["teacher"]})
    assert caught.value.details[0]["field"] == "params.metrics"


def test_benchmark_accuracy_by_choice_logprob_with_malformed_lines(evalproject, scripted):
    rows = [{"question": "Two plus two?", "choices": ["three", "four"], "answer": 1},
            {"question": "Sky colour?", "choices": ["blue", "green", "red"], "answer": "blue"},
            {"question": "Broken", "choices": ["only one"], "answer": 0},
            {"question": "Capital of France?", "choices": ["Paris", "Rome"], "answer": 0}]
    with get_sessionmaker()() as session:
        session.add(BenchmarkTask(project_id=evalproject["project"], name="tiny-mc", rows=rows, size=4, sha256="x"))
        session.commit()

    def script(path, body, headers):
        assert path.endswith("/completions") and body["echo"] is True and body["max_tokens"] == 0
        prompt = last_user_text(body)
        context = prompt.rsplit("\nAnswer:", 1)[0] + "\nAnswer:"
        choice = prompt[len(context):]
        # The model likes "four", "red" and "Rome": 1 of 3 scored questions right.
        value = -0.5 if choice.strip() in ("four", "red", "Rome") else -2.0
        if "Capital" in context and choice.strip() == "Paris":
            return Reply(json={"choices": [{"text": prompt, "finish_reason": "length", "logprobs": None}]})
        return Reply(json={"choices": [{"text": prompt, "finish_reason": "length", "logprobs": {
            "tokens": ["Q", choice], "token_logprobs": [None, value], "text_offset": [0, len(context)]}}]})

    scripted.script = script
    evalproject["backend"]("lm", scripted.url, max_concurrency=2)
    job_id = create(evalproject, "benchmark", {"task": "tiny-mc", "models": ["lm"]})
    run_job(job_id)
    job = job_row(job_id)
    assert job.status == JobStatus.succeeded, job.error
    assert job.result["malformed"] == 1
    assert job.result["scores"]["lm"] == {"accuracy": 0.5, "accuracy_norm": 0.5, "n": 2, "unscored": 1}
    with get_sessionmaker()() as session:
        errors = session.scalars(select(JobItem.error).where(JobItem.job_id == job_id,
                                                             JobItem.status == ItemStatus.failed)).all()
    assert any("line 3: 'choices' must be a list of at least two strings" in e for e in errors)
    assert any("line 4, choice 0" in e and "no token logprobs" in e for e in errors)


def test_lm_eval_runner_missing_fails_its_item_and_the_built_in_still_scores(evalproject, scripted, monkeypatch):
    from app.evaluation import lmeval

    rows = [{"question": "Two plus two?", "choices": ["three", "four"], "answer": 1}]
    with get_sessionmaker()() as session:
        session.add(BenchmarkTask(project_id=evalproject["project"], name="one-q", rows=rows, size=1, sha256="x"))
        session.commit()

    def script(path, body, headers):
        prompt = last_user_text(body)
        context = prompt.rsplit("\nAnswer:", 1)[0] + "\nAnswer:"
        value = -0.5 if prompt.endswith("four") else -2.0
        logprobs = {"tokens": ["Q", prompt[len(context):]], "token_logprobs": [None, value],
                    "text_offset": [0, len(context)]}
        return Reply(json={"choices": [{"text": prompt, "finish_reason": "length", "logprobs": logprobs}]})

    scripted.script = script
    # A tokenizer is needed for a server backend, so the job is accepted; this process has no harness runner.
    monkeypatch.setattr(lmeval, "_runner", None)
    evalproject["backend"]("lm", scripted.url)
    job_id = create(evalproject, "benchmark", {"task": "one-q", "models": ["lm"], "runner": "both",
                                               "tokenizer": "/nonexistent/tokenizer"})
    run_job(job_id)
    job = job_row(job_id)
    assert job.status == JobStatus.succeeded and job.items_failed == 1, job.error
    assert job.result["scores"]["lm"]["accuracy"] == 1.0
    failed = job.result["lm_eval"]["lm"]
    assert failed["accuracy"] is None and "lm-evaluation-harness is not available in this process" in failed["error"]
    assert "pip install lm_eval==0.4.13" in failed["error"]


def test_lm_eval_with_a_server_backend_needs_a_tokenizer(evalproject, scripted):
    with get_sessionmaker()() as session:
        session.add(BenchmarkTask(project_id=evalproject["project"], name="t", rows=[], size=0, sha256="x"))
        session.commit()
    evalproject["backend"]("lm", scripted.url)
    with pytest.raises(ValidationFailed, match="needs a local tokenizer directory") as caught:
        create(evalproject, "benchmark", {"task": "t", "models": ["lm"], "runner": "lm-eval"})
    assert caught.value.details[0]["field"] == "params.tokenizer"
