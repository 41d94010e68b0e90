"""REST: approve an instruction (reviewer or admin) and read its approval."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.bounds import RowId
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.models import ApprovalMethod
from app.review import service
from app.review.schemas import ApprovalOut, ApproveIn, approval_out
from app.users.deps import ReviewerUser

router = APIRouter(prefix="/api/v1", tags=["review"])


@router.post("/instructions/{instruction_id}/approve", response_model=ApprovalOut)
def approve(instruction_id: RowId, body: ApproveIn, session: SessionDep, user: ReviewerUser) -> ApprovalOut:
    """Approve: the given final response, else the consensus of the submitted annotations (409 if none)."""
    approval = service.approve_by_id(session, instruction_id=instruction_id, by=user,
                                     final_response=body.final_response, method=ApprovalMethod.api)
    return approval_out(approval)


@router.get("/instructions/{instruction_id}/approval", response_model=ApprovalOut)
def get_approval(instruction_id: RowId, session: SessionDep, user: ReviewerUser) -> ApprovalOut:
    """The instruction's approval; 404 when it is not approved."""
    service.get_instruction(session, instruction_id=instruction_id)
    approval = service.approval_for(session, instruction_id=instruction_id)
    if approval is None:
        raise NotFound(f"Instruction {instruction_id} is not approved.")
    return approval_out(approval)
