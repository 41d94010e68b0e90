"""Review: approve an instruction into training data, reject it, and the project's auto-approve rule.

Approval rules (what an Approval row holds, see app/models/annotation.py):
- ranking: the consensus of the submitted annotations' rankings by Borda count, as tiers best first
  (tied candidates share a tier); mean ratings order the candidates when nobody ranked. Accepting one
  annotator's result takes their ranking; adjudication takes the reviewer's order. With no annotations at
  all, candidates that carry scores (GPT-4-LLM's comparison data) are ranked by score, equal scores tied and
  unscored candidates last.
- final_response: the reviewer's text when given; else a correction (from the accepted annotation, or
  the correction of the annotator who agrees best with the consensus); else the top-ranked candidate
  (lowest id inside a tied top tier). Empty when the consensus is "all bad" and nobody corrected.
- all_bad: the accepted annotation's mark, or more than half of the submitted annotations marking it.
- rejected_candidate_ids (KTO's undesirable examples): every candidate when all_bad; otherwise each
  candidate that every annotator who rated it put in the bottom half of the scale (1-5: 1 or 2; A-D: C
  or D), or that every annotator who ranked it (ranking two or more) put last. The final candidate is
  never rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.models import (
    Annotation,
    AnnotationStatus,
    Approval,
    ApprovalMethod,
    Instruction,
    InstructionStatus,
    Project,
    User,
)
from app.models.base import utcnow
from app.review.agreement import instruction_agreement, pairwise_tau
from app.review.consensus import consensus_tiers, normalise_tiers, rating_value, scale_bounds, score_tiers


def submitted_annotations(session: Session, *, instruction: Instruction) -> list[Annotation]:
    """The instruction's submitted annotations, oldest submission first."""
    return list(session.scalars(
        select(Annotation)
        .where(Annotation.instruction_id == instruction.id, Annotation.status == AnnotationStatus.submitted)
        .order_by(Annotation.submitted_at, Annotation.id)
    ))


def _ranking(ann: Annotation) -> list[int]:
    return [int(c) for c in (ann.ranking or [])]


def rejected_candidates(annotations: Sequence[Annotation], candidate_ids: Sequence[int], *, scale: str,
                        all_bad: bool, keep: int | None) -> list[int]:
    """Candidates judged bad responses, by the rule in this module's docstring."""
    if all_bad:
        return sorted(candidate_ids)
    low, high = scale_bounds(scale)
    midpoint = (low + high) / 2
    rejected = []
    for cid in candidate_ids:
        ratings = [v for a in annotations if (v := rating_value((a.ratings or {}).get(str(cid)))) is not None]
        placed = [r for a in annotations if len(r := _ranking(a)) >= 2 and cid in r]
        all_low = bool(ratings) and all(v < midpoint for v in ratings)
        all_last = bool(placed) and all(r[-1] == cid for r in placed)
        if (all_low or all_last) and cid != keep:
            rejected.append(cid)
    return sorted(rejected)


def _best_correction(annotations: Sequence[Annotation], tiers: list[list[int]]) -> Annotation | None:
    """The correcting annotation whose ranking agrees best with the consensus; earliest on a tie."""
    flat = [cid for tier in tiers for cid in tier]
    corrected = [a for a in annotations if (a.correction or "").strip()]
    if not corrected:
        return None
    return max(corrected, key=lambda a: (pairwise_tau(_ranking(a), flat) or -2.0, -corrected.index(a)))


def _best_turn_edits(annotations: Sequence[Annotation], tiers: list[list[int]],
                     first: Annotation | None) -> Annotation | None:
    """Whose corrections of earlier assistant turns to take: the annotation the final response comes from when it
    corrected turns, else the turn-correcting annotation that agrees best with the consensus."""
    if first is not None and first.turn_edits:
        return first
    flat = [cid for tier in tiers for cid in tier]
    editing = [a for a in annotations if a.turn_edits]
    if not editing:
        return None
    return max(editing, key=lambda a: (pairwise_tau(_ranking(a), flat) or -2.0, -editing.index(a)))


def corrected_history(instruction: Instruction, edits: dict[str, str] | None) -> list[dict[str, str]] | None:
    """The earlier turns with the edits applied to assistant turns; None when nothing changes."""
    history = [dict(turn) for turn in instruction.history or []]
    changed = False
    for key, text in (edits or {}).items():
        if key.isdigit() and int(key) < len(history) and history[int(key)].get("role") == "assistant" \
                and history[int(key)]["content"] != text:
            history[int(key)]["content"] = text
            changed = True
    return history if changed else None


def _check_tiers(tiers: list[list[int]], candidate_ids: Sequence[int]) -> None:
    flat = [cid for tier in tiers for cid in tier]
    unknown = sorted(set(flat) - set(candidate_ids))
    if unknown:
        raise ValidationFailed(f"The ranking names candidates that are not this instruction's: {unknown}.",
                               details=[{"field": "ranking", "message": "unknown candidate ids"}])
    if len(flat) != len(set(flat)):
        raise ValidationFailed("The ranking names a candidate twice.",
                               details=[{"field": "ranking", "message": "duplicate candidate ids"}])


@dataclass
class Decision:
    """What an approval would hold, computed without writing anything."""

    final_response: str
    final_candidate_id: int | None
    ranking: list[list[int]]
    all_bad: bool
    rejected_candidate_ids: list[int]
    annotation_ids: list[int]
    method: ApprovalMethod
    history: list[dict[str, str]] | None = None  # earlier turns as corrected by an annotator; None: unchanged


def decide(session: Session, *, instruction: Instruction, final_response: str | None = None,
           ranking: Sequence[object] | None = None, annotation_id: int | None = None) -> Decision:
    """The approval these inputs give, by the rules in this module's docstring; writes nothing.

    Raises ValidationFailed for bad inputs and Conflict when there is nothing to approve from.
    """
    annotations = submitted_annotations(session, instruction=instruction)
    candidate_ids = [c.id for c in instruction.candidates]
    texts = {c.id: c.text for c in instruction.candidates}
    if final_response is not None:
        # Browsers send a textarea's line breaks as CRLF; stored texts use LF, so an unedited candidate matches.
        final_response = final_response.replace("\r\n", "\n")
    if final_response is not None and not final_response.strip():
        raise ValidationFailed("The final response is empty.", details=[{"field": "final_response"}])

    if annotation_id is not None:
        chosen = next((a for a in annotations if a.id == annotation_id), None)
        if chosen is None:
            raise ValidationFailed(f"Annotation {annotation_id} is not a submitted annotation of this instruction.",
                                   details=[{"field": "annotation_id"}])
        basis = [chosen]
        tiers = [[cid] for cid in _ranking(chosen)] or consensus_tiers([], [chosen.ratings], candidate_ids)
        all_bad = chosen.all_bad
        correction_from = chosen if (chosen.correction or "").strip() else None
        turns_from = chosen if chosen.turn_edits else None
        method = ApprovalMethod.accepted
    else:
        by_score = score_tiers({c.id: c.score for c in instruction.candidates}) if not annotations else []
        if not annotations and final_response is None and not by_score:
            raise Conflict("There is nothing to approve from: no submitted annotations, no scored candidates and "
                           "no final response.")
        basis = annotations
        tiers = by_score or consensus_tiers([_ranking(a) for a in annotations], [a.ratings for a in annotations],
                                            candidate_ids)
        all_bad = bool(annotations) and sum(a.all_bad for a in annotations) * 2 > len(annotations)
        correction_from = _best_correction(annotations, tiers)
        turns_from = _best_turn_edits(annotations, tiers, correction_from)
        method = ApprovalMethod.adjudicated if (final_response is not None or ranking) else ApprovalMethod.api

    if ranking is not None:
        tiers = normalise_tiers(ranking)
        _check_tiers(tiers, candidate_ids)
        # Candidates the reviewer left out share a last tier: they are still worse than any ranked one.
        rest = sorted(set(candidate_ids) - {cid for tier in tiers for cid in tier})
        if rest and tiers:
            tiers.append(rest)

    final_candidate_id: int | None = None
    if final_response is not None:
        text = final_response
        final_candidate_id = next((cid for cid in candidate_ids if texts[cid] == text), None)
    elif correction_from is not None:
        text = correction_from.correction or ""
    elif tiers and not all_bad:
        final_candidate_id = tiers[0][0]
        text = texts[final_candidate_id]
    elif all_bad:
        text = ""
    else:
        raise Conflict("There is nothing to approve from: the annotations rank no candidate and correct nothing.")
    scale = instruction_scale(session, instruction=instruction)
    return Decision(final_response=text, final_candidate_id=final_candidate_id, ranking=tiers, all_bad=all_bad,
                    rejected_candidate_ids=rejected_candidates(basis, candidate_ids, scale=scale, all_bad=all_bad,
                                                               keep=final_candidate_id),
                    annotation_ids=[a.id for a in basis], method=method,
                    history=corrected_history(instruction, turns_from.turn_edits if turns_from else None))


def proposal(session: Session, *, instruction: Instruction) -> Decision | None:
    """What approving the consensus as it stands would give, for the review form; None when nothing would."""
    try:
        return decide(session, instruction=instruction)
    except Conflict:
        return None


def approve(session: Session, *, instruction: Instruction, by: User | None, final_response: str | None = None,
            ranking: Sequence[object] | None = None, annotation_id: int | None = None,
            method: ApprovalMethod | str | None = None) -> Approval:
    """Create or replace the instruction's approval and mark it approved.

    annotation_id accepts that annotation's result; final_response and/or ranking adjudicate; neither
    approves the consensus of the submitted annotations. Raises Conflict when there is nothing to
    approve from (no submitted annotations and no final response).
    """
    decision = decide(session, instruction=instruction, final_response=final_response, ranking=ranking,
                      annotation_id=annotation_id)
    approval = session.scalar(select(Approval).where(Approval.instruction_id == instruction.id))
    if approval is None:
        approval = Approval(instruction_id=instruction.id, project_id=instruction.project_id)
        session.add(approval)
    approval.final_response = decision.final_response
    approval.final_candidate_id = decision.final_candidate_id
    approval.ranking = decision.ranking
    approval.all_bad = decision.all_bad
    approval.rejected_candidate_ids = decision.rejected_candidate_ids
    approval.annotation_ids = decision.annotation_ids
    approval.history = decision.history
    approval.method = ApprovalMethod(method) if method else decision.method
    approval.approved_by_id = by.id if by else None
    approval.approved_at = utcnow()
    instruction.status = InstructionStatus.approved
    session.flush()
    return approval


def reject(session: Session, *, instruction: Instruction, by: User) -> Instruction:
    """Mark the instruction rejected (it yields no training data) and drop any approval."""
    approval = session.scalar(select(Approval).where(Approval.instruction_id == instruction.id))
    if approval is not None:
        session.delete(approval)
    instruction.status = InstructionStatus.rejected
    session.flush()
    return instruction


def instruction_scale(session: Session, *, instruction: Instruction) -> str:
    """The rating scale of the instruction's project."""
    project = session.get(Project, instruction.project_id)
    return str(project.setting("rating_scale")) if project else "1-5"


def _submitted_count(session: Session, instruction: Instruction) -> int:
    return session.scalar(select(func.count()).select_from(Annotation).where(
        Annotation.instruction_id == instruction.id, Annotation.status == AnnotationStatus.submitted)) or 0


def maybe_auto_approve(session: Session, *, instruction: Instruction) -> Approval | None:
    """Apply the project's rules after a submit: status submitted at min_submitted, then auto-approve.

    Auto-approve ({"min_annotations": k, "min_top1_agreement": t}) approves the consensus when at least k
    annotations are submitted and the share of annotators agreeing on the first choice is at least t (with
    two or more annotations, at least two must have ranked: all bad against a ranking is no agreement). An
    instruction already approved or rejected is left alone: a reviewer's decision stands, and so is one whose
    answer an annotator flagged as not supported by its passage without correcting it: a reviewer decides.
    """
    if instruction.status in (InstructionStatus.approved, InstructionStatus.rejected):
        return None
    project = session.get(Project, instruction.project_id)
    if project is None:
        return None
    rule = project.setting("auto_approve")
    if not rule:
        # This runs on every submit (the annotation hot path), where the queue's recount has already moved a
        # full instruction on: the annotations are counted only while it is still pending.
        overlap = int(project.setting("min_submitted") or 1)
        if instruction.status == InstructionStatus.pending and _submitted_count(session, instruction) >= overlap:
            instruction.status = InstructionStatus.submitted
        session.flush()
        return None
    annotations = submitted_annotations(session, instruction=instruction)
    if not annotations:
        return None
    overlap = int(project.setting("min_submitted") or 1)
    if instruction.status == InstructionStatus.pending and len(annotations) >= overlap:
        instruction.status = InstructionStatus.submitted
    k = int(rule.get("min_annotations") or 1)
    t = float(rule.get("min_top1_agreement") or 0.0)
    rankings = [_ranking(a) for a in annotations]
    share = instruction_agreement(rankings).top1
    if share is None and len(annotations) == 1 and rankings[0]:
        share = 1.0  # one annotator asked for (min_annotations 1): their ranking is the decision
    if len(annotations) < k or share is None or share < t or _flagged_unsupported(annotations):
        session.flush()
        return None
    try:
        return approve(session, instruction=instruction, by=None, method=ApprovalMethod.auto)
    except Conflict:
        # Nothing rankable or corrected: leave it for a reviewer rather than fail the annotator's submit.
        session.flush()
        return None


def _flagged_unsupported(annotations: Sequence[Annotation]) -> bool:
    """An annotator said the answer is not supported by its passage and wrote no correction: approving the
    consensus would train on the very answer they flagged, so a reviewer decides instead."""
    return any("unsupported" in (a.flags or []) and not (a.correction or "").strip() for a in annotations)


def get_instruction(session: Session, *, instruction_id: int) -> Instruction:
    """The instruction, or NotFound."""
    inst = session.get(Instruction, instruction_id)
    if inst is None:
        raise NotFound(f"No instruction {instruction_id}.")
    return inst


def approve_by_id(session: Session, *, instruction_id: int, by: User, final_response: str | None = None,
                  ranking: Sequence[object] | None = None, annotation_id: int | None = None,
                  method: ApprovalMethod | str | None = None) -> Approval:
    """approve() for an instruction named by id."""
    return approve(session, instruction=get_instruction(session, instruction_id=instruction_id), by=by,
                   final_response=final_response, ranking=ranking, annotation_id=annotation_id, method=method)


def reject_by_id(session: Session, *, instruction_id: int, by: User) -> Instruction:
    """reject() for an instruction named by id."""
    return reject(session, instruction=get_instruction(session, instruction_id=instruction_id), by=by)


def approval_for(session: Session, *, instruction_id: int) -> Approval | None:
    """The instruction's approval, or None; for the instruction's API answer."""
    return session.scalar(select(Approval).where(Approval.instruction_id == instruction_id))


def approval_json(session: Session, *, instruction_id: int) -> dict | None:
    """The instruction's approval as the API shows it (JSON-ready), or None when not approved."""
    from app.review.schemas import approval_out

    approval = approval_for(session, instruction_id=instruction_id)
    return approval_out(approval).model_dump(mode="json") if approval else None
