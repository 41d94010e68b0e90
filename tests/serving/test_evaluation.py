"""Evaluations against a real local model through the model server: a multiple-choice benchmark scored by echoed
logprobs matches a direct forward pass, and a local model answers an evaluation set for ROUGE-L."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow

ROWS = [{"question": "Which is a colour?", "choices": ["blue", "seven", "walking"], "answer": 0},
        {"question": "What follows one?", "choices": ["two", "green"], "answer": "two"},
        {"question": "Pick the animal", "choices": ["cat", "table", "cloud"], "answer": 0}]


def _direct(loaded, context: str, continuation: str) -> float:
    """log P(continuation | context) by tokenising both, as lm-evaluation-harness does."""
    tok = loaded.tokenizer
    whole = tok(text=context + continuation)["input_ids"]
    ctx = tok(text=context)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(loaded.model(torch.tensor([whole])).logits[0].float(), dim=-1)
    return sum(logp[t - 1, whole[t]].item() for t in range(len(ctx), len(whole)))


def test_benchmark_and_reference_metrics_on_a_served_local_model(served, loaded):
    from app.core.db import get_sessionmaker
    from app.evaluation.benchmarks import parse_item
    from app.evaluation.sets import create_set
    from app.instructions.selection import InstructionFilter
    from app.jobs.runner import run_job
    from app.jobs.service import create_job
    from app.models import BenchmarkTask, Candidate, Instruction, Job, JobStatus, Project

    with get_sessionmaker()() as session:
        project = Project(name="Served evals", slug="served-evals")
        session.add(project)
        session.flush()
        session.add(BenchmarkTask(project_id=project.id, name="mc", rows=ROWS, size=3, sha256="x"))
        for i, text in enumerate(("Name a colour.", "Say hello.")):
            inst = Instruction(project_id=project.id, instruction=text, content_hash=f"s{i}")
            session.add(inst)
            session.flush()
            session.add(Candidate(instruction_id=inst.id, text="blue" if i == 0 else "hello", origin="reference"))
        session.flush()
        create_set(session, project=project, name="tiny-set", rules=InstructionFilter())
        jobs = [create_job(session, user=None, project_slug="served-evals", kind_name="benchmark",
                           params={"task": "mc", "models": [served.backend]}),
                create_job(session, user=None, project_slug="served-evals", kind_name="reference-metrics",
                           params={"evaluation_set": "tiny-set", "models": [served.backend], "max_tokens": 8})]
        session.commit()
        job_ids = [j.id for j in jobs]
    for job_id in job_ids:
        run_job(job_id)
    with get_sessionmaker()() as session:
        bench, reference = (session.get(Job, i) for i in job_ids)
        assert bench.status == JobStatus.succeeded and bench.items_failed == 0, bench.error
        assert reference.status == JobStatus.succeeded and reference.items_failed == 0, reference.error
        scores = bench.result["scores"][served.backend]
        assert (scores["n"], scores["unscored"]) == (3, 0)
        # The served logprobs pick the same choices a direct forward pass picks.
        expected = 0
        for line, row in enumerate(ROWS, start=1):
            q = parse_item(row, line)
            direct = [_direct(loaded, q.context(), q.continuation(i)) for i in range(len(q.choices))]
            expected += max(range(len(direct)), key=direct.__getitem__) == q.answer
        assert scores["accuracy"] == pytest.approx(expected / 3)
        rouge = reference.result["scores"][served.backend]["rouge"]
        assert rouge["n"] == 2 and 0.0 <= rouge["rouge_l"] <= 1.0
