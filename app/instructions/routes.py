"""REST: ingest and list a project's instructions; read, edit and delete one instruction."""

from __future__ import annotations

import gc
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app.core.bounds import RowId
from app.core.config import get_settings
from app.core.db import SessionDep
from app.instructions import evaluation_only, service
from app.instructions.candidates import remove_candidate
from app.instructions.schemas import (
    CandidateRemoval,
    IngestResult,
    InstructionOut,
    InstructionPage,
    InstructionPatch,
    adapters,
)
from app.models import InstructionStatus, Split
from app.users.deps import AdminUser, CurrentUser, ReviewerUser

router = APIRouter(prefix="/api/v1", tags=["instructions"])

# Everything loaded so far (framework, models, schemas) lives as long as the process: move it out of
# the collector's reach. A 1,000-item batch allocates tens of thousands of containers, and each
# collection they trigger would otherwise walk this whole start-up heap (measured: ~5 ms of CPU per
# 1,000 items, over 10 % of the server's ingest cost).
gc.freeze()


def _ingest_openapi() -> dict:
    settings = get_settings()
    limits = adapters(settings.max_text_chars, settings.max_candidates)
    item = limits["item"].json_schema()
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": limits["body"].json_schema()},
        "application/x-ndjson": {"schema": item, "description": "One item per line (also application/jsonl)."},
    }}}


@router.post("/projects/{slug}/instructions", response_model=IngestResult, openapi_extra=_ingest_openapi())
async def ingest(slug: str, request: Request, session: SessionDep, user: ReviewerUser) -> IngestResult:
    """Upsert up to 5,000 items by external_id (reviewer or admin). JSON {"items": [...]} or NDJSON.

    The whole batch is validated first; one bad item rejects the batch with 422 listing every bad item.
    """
    body = await request.body()
    return await run_in_threadpool(service.ingest, session, slug=slug, body=body,
                                   content_type=request.headers.get("content-type"))


@router.get("/projects/{slug}/instructions", response_model=InstructionPage)
def list_instructions(
    slug: str,
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=100, description="next_cursor of the previous page")] = None,
    status: InstructionStatus | None = None,
    split: Split | None = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=500, description="substring of the instruction")] = None,
) -> InstructionPage:
    """A page of the project's instructions in id order, filtered by status, split, source and text."""
    return service.list_instructions(session, slug=slug, limit=limit, cursor=cursor, status=status, split=split,
                                     source=source, q=q)


@router.post("/projects/{slug}/instructions/evaluation-only", response_model=evaluation_only.EvaluationOnlyOut)
def mark_evaluation_only(slug: str, body: evaluation_only.EvaluationOnlyIn, session: SessionDep,
                         user: ReviewerUser) -> evaluation_only.EvaluationOnlyOut:
    """Mark every instruction the filter matches as evaluation-only (or clear the mark): such instructions never
    go into a training export and never seed a bootstrap (reviewer or admin)."""
    return evaluation_only.mark(session, slug=slug, rules=body.filter, value=body.evaluation_only)


@router.get("/instructions/{instruction_id}", response_model=InstructionOut)
def get_instruction(instruction_id: RowId, session: SessionDep, user: CurrentUser) -> InstructionOut:
    """One instruction with its candidates and annotations (annotators see only their own)."""
    return service.describe(session, instruction_id=instruction_id, viewer=user)


@router.patch("/instructions/{instruction_id}", response_model=InstructionOut)
def update_instruction(instruction_id: RowId, body: InstructionPatch, session: SessionDep,
                       user: ReviewerUser) -> InstructionOut:
    """Change instruction, input, system, split, source or metadata (reviewer or admin)."""
    return service.update_instruction(session, instruction_id=instruction_id, data=body, viewer=user)


@router.delete("/instructions/{instruction_id}", status_code=204)
def delete_instruction(instruction_id: RowId, session: SessionDep, user: ReviewerUser) -> Response:
    """Delete one instruction with its candidates and annotations (reviewer or admin)."""
    service.delete_instruction(session, instruction_id=instruction_id)
    return Response(status_code=204)


@router.delete("/candidates/{candidate_id}", response_model=CandidateRemoval)
def delete_candidate(candidate_id: RowId, session: SessionDep, user: AdminUser) -> CandidateRemoval:
    """Remove a candidate (admin): rankings that named it lose it, and an approval whose final response it
    was is withdrawn (the instruction goes back to review). The answer counts what changed."""
    return CandidateRemoval(**remove_candidate(session, candidate_id=candidate_id).as_dict())
