"""REST bodies for approval."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models import Approval

FinalText = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class ApproveIn(BaseModel):
    """Approve an instruction; without final_response the consensus of its submitted annotations decides."""

    model_config = ConfigDict(extra="forbid")
    final_response: FinalText | None = Field(None, description="The reviewer's final response; overrides corrections.")


class ApprovalOut(BaseModel):
    instruction_id: int
    project_id: int
    final_response: str
    final_candidate_id: int | None = Field(description="The candidate the final response is, when unedited.")
    ranking: list[list[int]] = Field(description="Consensus tiers, best first; one tier holds tied candidates.")
    all_bad: bool
    rejected_candidate_ids: list[int] = Field(description="Candidates judged bad (KTO's undesirable examples).")
    preference_pairs: list[tuple[int, int]] = Field(description="(chosen, rejected) candidate ids from the tiers.")
    annotation_ids: list[int]
    method: str
    approved_by: str | None
    approved_at: datetime


def preference_pairs(tiers: list[list[int]]) -> list[tuple[int, int]]:
    """Every (better, worse) pair across tiers; tied candidates yield no pair."""
    pairs = []
    for i, upper in enumerate(tiers):
        for lower in tiers[i + 1:]:
            pairs.extend((a, b) for a in upper for b in lower)
    return pairs


def approval_out(approval: Approval) -> ApprovalOut:
    """An Approval row as the API shows it."""
    tiers = [[int(c) for c in tier] for tier in approval.ranking or []]
    return ApprovalOut(
        instruction_id=approval.instruction_id, project_id=approval.project_id,
        final_response=approval.final_response, final_candidate_id=approval.final_candidate_id, ranking=tiers,
        all_bad=approval.all_bad, rejected_candidate_ids=[int(c) for c in approval.rejected_candidate_ids or []],
        preference_pairs=preference_pairs(tiers), annotation_ids=[int(a) for a in approval.annotation_ids or []],
        method=str(approval.method.value if hasattr(approval.method, "value") else approval.method),
        approved_by=approval.approved_by.email if approval.approved_by else None,
        # SQLite hands back naive datetimes; they are stored as UTC.
        approved_at=approval.approved_at if approval.approved_at.tzinfo else approval.approved_at.replace(tzinfo=UTC),
    )
