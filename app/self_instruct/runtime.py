"""What a running bootstrap keeps in memory: its seeds, the machine-generated pool it samples from, and the
novelty pool it checks against. Built from the database at the start of each attempt, so a resumed job sees
exactly what was committed."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import ValidationFailed
from app.instructions.selection import filtered
from app.models import Candidate, CandidateOrigin, Instruction, ItemStatus, Job, JobItem
from app.self_instruct.novelty import NoveltyPool
from app.self_instruct.prompts import Example
from app.self_instruct.schemas import SelfInstructParams

SOURCE = "self-instruct"
CHUNK = 5000


@dataclass(frozen=True)
class Seed(Example):
    is_classification: bool | None = None


@dataclass
class Runtime:
    seeds: list[Seed]
    machine: list[Example] = field(default_factory=list)  # earlier rounds' and this job's accepted tasks
    pool: NoveltyPool = field(default_factory=NoveltyPool)


def load_seeds(session: Session, project_id: int, params: SelfInstructParams) -> list[Seed]:
    """The seed tasks: the filter's instructions (never evaluation-only ones), one per distinct instruction text,
    each with its input and first reference output (Alpaca's prompt shows them)."""
    query = filtered(session, project_id, params.seeds,
                     columns=(Instruction.id, Instruction.instruction, Instruction.input, Instruction.meta))
    rows = list(session.execute(query.where(Instruction.evaluation_only.is_(False))))
    outputs = _reference_outputs(session, [r.id for r in rows])
    seeds: dict[str, Seed] = {}
    for row in rows:
        clf = (row.meta or {}).get("is_classification")
        clf = clf if isinstance(clf, bool) else None
        if params.classification_only and clf is not True:
            continue
        seeds.setdefault(row.instruction, Seed(row.instruction, row.input or "", outputs.get(row.id, ""), clf))
    return list(seeds.values())


def _reference_outputs(session: Session, ids: list[int]) -> dict[int, str]:
    """Each instruction's first reference candidate (or, without one, its first candidate)."""
    best: dict[int, tuple[bool, int, str]] = {}
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        for cid, iid, origin, text in session.execute(
                select(Candidate.id, Candidate.instruction_id, Candidate.origin, Candidate.text)
                .where(Candidate.instruction_id.in_(part))):
            rank = (origin != CandidateOrigin.reference, cid, text)
            if iid not in best or rank < best[iid]:
                best[iid] = rank
    return {iid: rank[2] for iid, rank in best.items()}


def build(session: Session, job: Job, params: SelfInstructParams) -> Runtime:
    """Seeds, then earlier rounds' generated instructions, then (when decontaminating) evaluation-only ones, then
    the candidates this job accepted, in that order, into the novelty pool."""
    seeds = load_seeds(session, job.project_id, params)
    if not seeds:
        raise ValidationFailed("The seed filter matches no instruction of this project; there is nothing to "
                               "bootstrap from.", details=[{"field": "params.seeds", "message": "matches no seed"}])
    runtime = Runtime(seeds, pool=NoveltyPool(params.rouge_threshold))
    for seed in seeds:
        runtime.pool.add(seed.instruction)
    earlier = list(session.execute(
        select(Instruction.id, Instruction.instruction, Instruction.input)
        .where(Instruction.project_id == job.project_id, Instruction.source == SOURCE,
               (Instruction.job_id != job.id) | Instruction.job_id.is_(None))
        .order_by(Instruction.id)))
    outputs = _reference_outputs(session, [r.id for r in earlier]) if params.mode == "alpaca" else {}
    for row in earlier:
        if runtime.pool.duplicate_of(row.instruction) is None:
            runtime.machine.append(Example(row.instruction, row.input or "", outputs.get(row.id, "")))
        runtime.pool.add(row.instruction)
    if params.decontaminate:
        for (text,) in session.execute(select(Instruction.instruction).where(
                Instruction.project_id == job.project_id, Instruction.evaluation_only.is_(True))
                .order_by(Instruction.id)):
            runtime.pool.add(text)
    for (data,) in session.execute(select(JobItem.input).where(
            JobItem.job_id == job.id, JobItem.stage == "candidate", JobItem.status == ItemStatus.done)
            .order_by(JobItem.id)):
        accept(runtime, data)
    return runtime


def accept(runtime: Runtime, data: dict, toks: list[str] | None = None) -> None:
    """An accepted candidate joins both pools."""
    runtime.machine.append(Example(data["instruction"], data.get("input", ""), data.get("output", "")))
    runtime.pool.add(data["instruction"], toks)


# (job id, attempt) -> runtime; a new attempt (a resume, a redelivered task) rebuilds from the database.
_CACHE: OrderedDict[tuple[int, int], Runtime] = OrderedDict()
_LOCK = threading.Lock()
KEEP = 4


def runtime_for(session: Session, job: Job, params: SelfInstructParams) -> Runtime:
    key = (job.id, job.attempts)
    with _LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    built = build(session, job, params)
    with _LOCK:
        for other in [k for k in _CACHE if k[0] == job.id]:
            del _CACHE[other]
        _CACHE[key] = built
        while len(_CACHE) > KEEP:
            _CACHE.popitem(last=False)
    return built


def forget(job_id: int) -> None:
    with _LOCK:
        for key in [k for k in _CACHE if k[0] == job_id]:
            del _CACHE[key]
