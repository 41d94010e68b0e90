"""Annotators pressing Next at the same moment, on real SQLite and PostgreSQL with committed transactions."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from app.annotation import queue, service
from app.annotation.schemas import FeedbackIn
from app.models import Annotation, Project
from tests.annotation.conftest import add_instructions

ANNOTATORS = 8
ROUNDS = 4


def _setup(sessions, n: int, overlap: int) -> tuple[int, list[int]]:
    from app.users.service import create_user

    with sessions.begin() as session:
        project = Project(name="Race", slug=f"race-{overlap}", guidelines="", settings={"min_submitted": overlap})
        session.add(project)
        session.flush()
        add_instructions(session, project, n, candidates=2)
        users = [create_user(session, email=f"racer{i}-{overlap}@example.com", password="correct horse battery",
                             role="annotator", name=f"R{i}") for i in range(ANNOTATORS)]
        session.flush()
        return project.id, [u.id for u in users]


def _race(sessions, project_id: int, user_ids: list[int]) -> list[list[int]]:
    from app.models import User

    barrier = threading.Barrier(len(user_ids))
    got: list[list[int]] = [[] for _ in user_ids]
    errors: list[BaseException] = []

    def annotator(n: int) -> None:
        try:
            for _ in range(ROUNDS):
                barrier.wait(timeout=30)
                with sessions.begin() as session:
                    project = session.get(Project, project_id)
                    annotation = queue.next_task(session, project=project, user=session.get(User, user_ids[n]))
                    if annotation is None:
                        continue
                    got[n].append(annotation.instruction_id)
                    ids = [c.id for c in annotation.instruction.candidates]
                    service.submit(session, annotation=annotation, data=FeedbackIn(ranking=ids))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=annotator, args=(n,)) for n in range(len(user_ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return got


def test_overlap_one_never_hands_an_instruction_twice(live):
    from app.core.db import get_sessionmaker

    sessions = get_sessionmaker()
    project_id, users = _setup(sessions, ANNOTATORS * ROUNDS + 3, overlap=1)
    got = _race(sessions, project_id, users)
    handed = [i for per_user in got for i in per_user]
    assert len(handed) == ANNOTATORS * ROUNDS
    assert len(set(handed)) == len(handed), "an instruction went to two annotators"


def test_overlap_two_hands_each_instruction_to_exactly_two(live):
    from app.core.db import get_sessionmaker

    sessions = get_sessionmaker()
    # Two spare instructions: with room for exactly the demand, a user can rightly be told "nothing left" when
    # the last free slot is on an instruction they already annotated. With four spare slots there is always
    # room they have not touched (they hold at most three of the slots left), so nobody may go without.
    project_id, users = _setup(sessions, ANNOTATORS * ROUNDS // 2 + 2, overlap=2)
    got = _race(sessions, project_id, users)
    assert all(len(set(per_user)) == len(per_user) for per_user in got), "a user got the same instruction twice"
    assert [len(per_user) for per_user in got] == [ROUNDS] * ANNOTATORS, "a user was told the queue was empty"
    with sessions() as session:
        stmt = select(Annotation.instruction_id, func.count()).group_by(Annotation.instruction_id)
        counts = session.execute(stmt).all()
    assert counts and max(c for _, c in counts) <= 2
    assert sum(c for _, c in counts) == ANNOTATORS * ROUNDS
