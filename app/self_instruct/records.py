"""Accepted tasks as project instructions, stored the way the seed importer stores Self-Instruct tasks: one
instruction per instance (the first keeps the task's id, later ones `id#2`, `id#3`, ...), the instance's input
as `input` and its output as a `reference` candidate, and provenance saying which job, backend and model made
it. They enter the annotation queue as pending instructions like any other."""

from __future__ import annotations

from typing import Any

from app.instructions.ingest import canonical, content_hash
from app.jobs.context import JobContext
from app.models import Candidate, CandidateOrigin, Instruction, JobItem
from app.self_instruct.instances import Instance
from app.self_instruct.runtime import SOURCE


def task_id(job_id: int, candidate_id: int) -> str:
    return f"self-instruct-{job_id}-{candidate_id}"


def add_task(ctx: JobContext, candidate: JobItem, *, is_classification: bool | None,
             instances: list[Instance]) -> list[int]:
    """The task's instructions (one per instance; one without input or reference when it has none); their ids."""
    state = ctx.state
    base = task_id(ctx.job.id, candidate.id)
    meta: dict[str, Any] = {
        "most_similar": candidate.output.get("most_similar", []),
        "avg_similarity_score": candidate.output.get("avg_similarity_score", 0.0),
        "is_classification": is_classification,
        "task_id": base,
    }
    rows = []
    for n, instance in enumerate(instances or [Instance("", "")], start=1):
        item: dict[str, Any] = {"external_id": base if n == 1 else f"{base}#{n}",
                                "instruction": candidate.input["instruction"], "input": instance.input,
                                "source": SOURCE, "metadata": meta}
        if instance.output:
            item["candidates"] = [{"text": instance.output, "origin": "reference"}]
        row = canonical(item, default_origin="reference")
        instruction = Instruction(
            project_id=ctx.job.project_id, external_id=row["external_id"], instruction=row["instruction"],
            input=row["input"], source=SOURCE, meta=meta, content_hash=content_hash(row),
            construction=state["construction"], job_id=ctx.job.id, backend=state["backend"],
            model=state["model"][:200])
        if instance.output:
            instruction.candidates.append(Candidate(
                text=instance.output, model=state["model"][:200], origin=CandidateOrigin.reference,
                construction=state["construction"], job_id=ctx.job.id, backend=state["backend"],
                run_id=state.get("run_id"), meta={"self_instruct_task": base}))
        rows.append(instruction)
    ctx.session.add_all(rows)
    ctx.session.flush()
    return [r.id for r in rows]
