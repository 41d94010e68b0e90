"""Approval, consensus and auto-approve on both databases."""

from __future__ import annotations

import pytest

from app.core.errors import Conflict, ValidationFailed
from app.models import ApprovalMethod, InstructionStatus
from app.review.service import approve, maybe_auto_approve, reject


def test_consensus_approval_uses_borda_and_top_candidate(db, make_user, make_project, make_instruction, annotate):
    project = make_project()
    inst = make_instruction(project)
    a, b, c = (cand.id for cand in inst.candidates)
    u1, u2, u3 = make_user(), make_user(), make_user()
    annotate(inst, u1, ranking=[b, a, c], ratings={str(b): 5, str(a): 3, str(c): 1})
    annotate(inst, u2, ranking=[b, c, a], ratings={str(b): 4, str(a): 2, str(c): 2})
    annotate(inst, u3, ranking=[a, b, c], ratings={str(b): 4, str(a): 4, str(c): 1})
    reviewer = make_user("reviewer")

    approval = approve(db, instruction=inst, by=reviewer)

    # Borda: b = 2+2+1 = 5, a = 1+0+2 = 3, c = 0+1+0 = 1.
    assert approval.ranking == [[b], [a], [c]]
    assert approval.final_candidate_id == b and approval.final_response == "B"
    assert approval.method == ApprovalMethod.api
    assert approval.rejected_candidate_ids == [c]  # every rater put c below the scale's midpoint
    assert len(approval.annotation_ids) == 3
    assert inst.status == InstructionStatus.approved


def test_tied_candidates_share_a_tier_and_correction_wins(db, make_user, make_project, make_instruction, annotate):
    inst = make_instruction(make_project())
    a, b, c = (cand.id for cand in inst.candidates)
    annotate(inst, make_user(), ranking=[a, b, c], correction="A, but better.")
    annotate(inst, make_user(), ranking=[b, a, c])

    approval = approve(db, instruction=inst, by=None)

    assert approval.ranking == [[a, b], [c]]
    assert approval.final_response == "A, but better." and approval.final_candidate_id is None
    assert approval.rejected_candidate_ids == [c]  # ranked last by everyone


def test_accept_one_annotation_and_replace(db, make_user, make_project, make_instruction, annotate):
    inst = make_instruction(make_project())
    a, b, c = (cand.id for cand in inst.candidates)
    annotate(inst, make_user(), ranking=[a, b, c])
    second = annotate(inst, make_user(), ranking=[c, b, a])
    reviewer = make_user("reviewer")

    first = approve(db, instruction=inst, by=reviewer)
    replaced = approve(db, instruction=inst, by=reviewer, annotation_id=second.id)

    assert replaced.id == first.id
    assert replaced.method == ApprovalMethod.accepted and replaced.ranking == [[c], [b], [a]]
    assert replaced.final_response == "C" and replaced.annotation_ids == [second.id]


def test_adjudicate_with_text_and_order(db, make_user, make_project, make_instruction, annotate):
    inst = make_instruction(make_project())
    a, b, c = (cand.id for cand in inst.candidates)
    annotate(inst, make_user(), ranking=[a, b, c])

    approval = approve(db, instruction=inst, by=make_user("reviewer"), final_response="Edited.", ranking=[c, a])

    assert approval.method == ApprovalMethod.adjudicated
    assert approval.ranking == [[c], [a], [b]]
    assert approval.final_response == "Edited." and approval.final_candidate_id is None
    with pytest.raises(ValidationFailed):
        approve(db, instruction=inst, by=None, ranking=[a, a])
    with pytest.raises(ValidationFailed):
        approve(db, instruction=inst, by=None, ranking=[999999])


def test_all_bad_rejects_every_candidate(db, make_user, make_project, make_instruction, annotate):
    inst = make_instruction(make_project())
    annotate(inst, make_user(), all_bad=True)
    annotate(inst, make_user(), all_bad=True, correction="What it should have said.")

    approval = approve(db, instruction=inst, by=None)

    assert approval.all_bad is True
    assert approval.final_response == "What it should have said."
    assert approval.rejected_candidate_ids == sorted(c.id for c in inst.candidates)


def test_nothing_to_approve_is_a_conflict(db, make_project, make_instruction):
    inst = make_instruction(make_project())
    with pytest.raises(Conflict):
        approve(db, instruction=inst, by=None)
    approval = approve(db, instruction=inst, by=None, final_response="Written by the reviewer.")
    assert approval.final_response == "Written by the reviewer." and approval.annotation_ids == []


def test_reject_drops_approval(db, make_user, make_project, make_instruction, annotate):
    inst = make_instruction(make_project())
    annotate(inst, make_user(), ranking=[c.id for c in inst.candidates])
    approve(db, instruction=inst, by=None)
    reject(db, instruction=inst, by=make_user("reviewer"))
    assert inst.status == InstructionStatus.rejected
    from app.models import Approval
    assert db.query(Approval).filter_by(instruction_id=inst.id).count() == 0


def test_auto_approve_rule(db, make_user, make_project, make_instruction, annotate):
    project = make_project(auto_approve={"min_annotations": 2, "min_top1_agreement": 1.0})
    inst = make_instruction(project)
    a, b, c = (cand.id for cand in inst.candidates)
    annotate(inst, make_user(), ranking=[a, b, c])
    assert maybe_auto_approve(db, instruction=inst) is None
    assert inst.status == InstructionStatus.pending  # one of two annotations

    annotate(inst, make_user(), ranking=[b, a, c])
    assert maybe_auto_approve(db, instruction=inst) is None  # top-1 agreement 0.5 < 1.0
    assert inst.status == InstructionStatus.submitted

    other = make_instruction(project)
    x, y, z = (cand.id for cand in other.candidates)
    annotate(other, make_user(), ranking=[y, x, z])
    annotate(other, make_user(), ranking=[y, z, x])
    approval = maybe_auto_approve(db, instruction=other)
    assert approval is not None and approval.method == ApprovalMethod.auto and approval.final_candidate_id == y
    assert other.status == InstructionStatus.approved
    assert maybe_auto_approve(db, instruction=other) is None  # a decision stands


def test_an_answer_flagged_unsupported_waits_for_a_reviewer_unless_corrected(db, make_user, make_project,
                                                                            make_instruction, annotate):
    project = make_project(min_submitted=1, auto_approve={"min_annotations": 1, "min_top1_agreement": 0})
    flagged, corrected = make_instruction(project, candidates=("Built in 1820.",)), make_instruction(project)
    annotate(flagged, make_user(), ranking=[flagged.candidates[0].id], flags=["unsupported"], correction="  ")
    assert maybe_auto_approve(db, instruction=flagged) is None
    assert flagged.status == InstructionStatus.submitted  # in the reviewer's list, not in the training data
    annotate(corrected, make_user(), ranking=[c.id for c in corrected.candidates], flags=["unsupported"],
             correction="What the passage says.")
    approval = maybe_auto_approve(db, instruction=corrected)
    assert approval is not None and approval.final_response == "What the passage says."


def test_no_rule_only_marks_submitted(db, make_user, make_project, make_instruction, annotate):
    inst = make_instruction(make_project(min_submitted=1))
    annotate(inst, make_user(), ranking=[c.id for c in inst.candidates])
    assert maybe_auto_approve(db, instruction=inst) is None
    assert inst.status == InstructionStatus.submitted


def test_crlf_from_a_textarea_still_matches_the_candidate(db, make_project, make_instruction, annotate, make_user):
    inst = make_instruction(make_project(), candidates=("Line one.\nLine two.", "Other"))
    annotate(inst, make_user(), ranking=[c.id for c in inst.candidates])
    approval = approve(db, instruction=inst, by=None, final_response="Line one.\r\nLine two.")
    assert approval.final_candidate_id == inst.candidates[0].id and approval.final_response == "Line one.\nLine two."
