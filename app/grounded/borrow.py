"""Unanswerable items txtinstruct's way: each passage gets a question that was written for another passage.

The other passage is drawn with a seeded generator, from another document where there is one, else from a
passage that is not a neighbour (neighbours share text through the overlap, so their questions may be
answerable): a borrowed question should really be one the passage cannot answer.
"""

from __future__ import annotations

import random

from sqlalchemy import select

from app.jobs.context import JobContext
from app.models import ItemStatus, JobItem, Passage


def add_unanswerable(ctx: JobContext) -> int:
    """Add one `unanswerable` item per planned passage; returns how many."""
    questions: dict[int, list[str]] = {}
    planned: set[int] = set()
    for data, status, output in ctx.session.execute(
            select(JobItem.input, JobItem.status, JobItem.output).where(
                JobItem.job_id == ctx.job.id, JobItem.stage == "question")):
        planned.add(data["passage_id"])
        if status == ItemStatus.done and output.get("question"):
            questions.setdefault(data["passage_id"], []).append(output["question"])
    if not questions:
        ctx.event("unanswerable", "No passage got a question, so there is none to borrow: no unanswerable items.")
        return 0
    where = {pid: (doc, pos) for pid, doc, pos in ctx.session.execute(
        select(Passage.id, Passage.document_id, Passage.position).where(Passage.id.in_(planned | set(questions))))}
    donors = sorted(pid for pid in questions if pid in where)
    donor_docs = {where[d][0] for d in donors}
    inputs = []
    for pid in sorted(planned):
        if pid not in where:
            continue  # deleted since
        rng = random.Random(ctx.params.seed * 1_000_003 + pid)
        other = _donor(pid, where, donors, donor_docs, rng)
        if other is not None:
            inputs.append({"passage_id": pid, "question": rng.choice(questions[other]), "borrowed_from": other})
    ctx.add_items("unanswerable", inputs)
    ctx.event("unanswerable", f"{len(inputs)} unanswerable items borrow a question from another passage.",
              items=len(inputs))
    return len(inputs)


def _donor(pid: int, where: dict[int, tuple[int, int]], donors: list[int], donor_docs: set[int],
           rng: random.Random) -> int | None:
    doc, pos = where[pid]
    rules = (lambda d: where[d][0] != doc,
             lambda d: where[d][0] == doc and abs(where[d][1] - pos) > 1,
             lambda d: d != pid)
    for number, allowed in enumerate(rules):
        if number == 0 and len(donor_docs) == 1 and doc in donor_docs:
            continue  # one document only: no other document to borrow from
        # A few seeded draws find a donor at once in any real collection; the scan is for the rare rest.
        for _ in range(16):
            pick = donors[rng.randrange(len(donors))]
            if pick != pid and allowed(pick):
                return pick
        pool = [d for d in donors if d != pid and allowed(d)]
        if pool:
            return rng.choice(pool)
    return None
