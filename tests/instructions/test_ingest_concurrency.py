"""Concurrent batches with overlapping external ids: exact counts, no duplicates, on committed data."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from app.models import Candidate, Instruction

THREADS = 4
PER_BATCH = 150
STEP = 50  # batches overlap: thread k sends ids k*STEP .. k*STEP + PER_BATCH - 1


def test_overlapping_concurrent_batches_count_exactly(live):
    from app.core.db import get_sessionmaker
    from app.instructions.ingest import upsert_items
    from app.projects.schemas import ProjectCreate
    from app.projects.service import create_project, get_project

    factory = get_sessionmaker()
    with factory() as session:
        create_project(session, data=ProjectCreate(name="Race"), by=None)
        session.commit()
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS
    errors: list[BaseException] = []

    def send(k: int, rounds: int = 2) -> None:
        try:
            items = [{"external_id": f"x{n}", "instruction": f"task {n}", "candidates": [{"text": f"answer {n}"}]}
                     for n in range(k * STEP, k * STEP + PER_BATCH)]
            barrier.wait()
            out = []
            for _ in range(rounds):
                with factory() as session:
                    project = get_project(session, slug="race")
                    out.append(upsert_items(session, project=project, items=items))
                    session.commit()
            results[k] = out
        except BaseException as exc:  # surfaced below with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    distinct = (THREADS - 1) * STEP + PER_BATCH
    created = sum(r.created for out in results for r in out)
    assert created == distinct
    for out in results:
        assert all(r.created + r.updated + r.unchanged == PER_BATCH for r in out)
        assert out[1].created == 0 and out[1].unchanged == PER_BATCH  # second round: all seen
        assert out[0].ids == out[1].ids
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Instruction)) == distinct
        assert session.scalar(select(func.count(func.distinct(Instruction.external_id)))) == distinct
        assert session.scalar(select(func.count()).select_from(Candidate)) == distinct
