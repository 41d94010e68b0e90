"""The queue on both databases: who gets what, overlap, holdout, reservations that expire."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.annotation import queue, service
from app.annotation.schemas import DraftIn, FeedbackIn
from app.models import AnnotationStatus, InstructionStatus, Split
from app.models.base import utcnow
from tests.annotation.conftest import add_instructions


def _full(annotation) -> FeedbackIn:
    return FeedbackIn(ranking=[c.id for c in annotation.instruction.candidates])


def test_next_task_reserves_in_order_and_returns_the_live_reservation(db, make_user, make_project):
    project = make_project(n=3)
    alice = make_user()
    first = queue.next_task(db, project=project, user=alice)
    assert first.status == AnnotationStatus.in_progress
    assert queue.aware(first.reserved_until) > utcnow() + timedelta(minutes=29)
    assert first.instruction.reserved_count == 1
    again = queue.next_task(db, project=project, user=alice)
    assert again.id == first.id


def test_overlap_one_hands_each_instruction_to_one_annotator(db, make_user, make_project):
    project = make_project(n=2)
    users = [make_user() for _ in range(3)]
    got = [queue.next_task(db, project=project, user=u) for u in users]
    assert got[0].instruction_id != got[1].instruction_id
    assert got[2] is None


def test_overlap_two_and_never_the_same_instruction_twice(db, make_user, make_project):
    project = make_project(n=2, min_submitted=2)
    alice, bob, carol = make_user(), make_user(), make_user()
    a = queue.next_task(db, project=project, user=alice)
    b = queue.next_task(db, project=project, user=bob)
    assert a.instruction_id == b.instruction_id
    c = queue.next_task(db, project=project, user=carol)
    assert c.instruction_id != a.instruction_id
    service.submit(db, annotation=a, data=_full(a))
    a2 = queue.next_task(db, project=project, user=alice)
    assert a2.instruction_id == c.instruction_id
    service.submit(db, annotation=b, data=_full(b))
    assert a.instruction.status == InstructionStatus.submitted
    assert a.instruction.submitted_count == 2


def test_skipped_and_submitted_are_not_offered_again(db, make_user, make_project):
    project = make_project(n=2, min_submitted=3)
    alice = make_user()
    a = queue.next_task(db, project=project, user=alice)
    service.skip(db, annotation=a, reason="outside my expertise")
    b = queue.next_task(db, project=project, user=alice)
    assert b.instruction_id != a.instruction_id
    service.submit(db, annotation=b, data=_full(b))
    assert queue.next_task(db, project=project, user=alice) is None


def test_holdout_is_excluded_when_the_project_says_so(db, make_user, make_project):
    project = make_project(n=0)
    add_instructions(db, project, 2, split=Split.holdout)
    assert queue.next_task(db, project=project, user=make_user()) is None
    project.settings = {**project.settings, "exclude_holdout": False}
    db.flush()
    assert queue.next_task(db, project=project, user=make_user()) is not None


def test_an_expired_reservation_returns_to_the_pool(db, make_user, make_project):
    project = make_project(n=1)
    alice, bob = make_user(), make_user()
    a = queue.next_task(db, project=project, user=alice)
    assert queue.next_task(db, project=project, user=bob) is None
    later = utcnow() + timedelta(minutes=31)
    b = queue.next_task(db, project=project, user=bob, now=later)
    assert b is not None and b.instruction_id == a.instruction_id
    assert a.instruction.reserved_count == 1
    # Alice comes back after Bob took it: her stale draft goes, and nothing else is left for her.
    assert queue.next_task(db, project=project, user=alice, now=later) is None


def test_own_expired_reservation_comes_back_with_the_draft(db, make_user, make_project):
    project = make_project(n=2)
    alice = make_user()
    a = queue.next_task(db, project=project, user=alice)
    draft = DraftIn(comment="half done", ranking=[None, a.instruction.candidates[0].id])
    service.save_draft(db, annotation=a, data=draft)
    back = queue.next_task(db, project=project, user=alice, now=utcnow() + timedelta(hours=2))
    assert back.id == a.id and back.comment == "half done"
    assert queue.aware(back.reserved_until) > utcnow() + timedelta(hours=2)


def test_a_lapsed_reservation_taken_by_another_cannot_be_submitted(db, make_user, make_project):
    from app.core.errors import Conflict

    project = make_project(n=1)
    alice, bob = make_user(), make_user()
    a = queue.next_task(db, project=project, user=alice)
    a.reserved_until = a.instruction.reserved_until = utcnow() - timedelta(minutes=1)
    db.flush()
    assert queue.next_task(db, project=project, user=bob) is not None
    with pytest.raises(Conflict, match="went to another annotator"):
        service.submit(db, annotation=a, data=_full(a))


def test_a_lapsed_reservation_nobody_took_can_still_be_submitted(db, make_user, make_project):
    project = make_project(n=1)
    alice = make_user()
    a = queue.next_task(db, project=project, user=alice)
    a.reserved_until = a.instruction.reserved_until = utcnow() - timedelta(minutes=1)
    db.flush()
    service.submit(db, annotation=a, data=_full(a))
    assert a.status == AnnotationStatus.submitted and a.instruction.submitted_count == 1
