"""The bootstrap report: every round of a project side by side, or one round for a job's result panel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from app.core.db import SessionDep
from app.core.templating import render
from app.projects.service import get_project
from app.self_instruct import report
from app.self_instruct.classification import ClassificationIn, ClassificationOut, set_classification
from app.users.deps import AdminUser, CurrentUser

router = APIRouter()


@router.put("/api/v1/instructions/{instruction_id}/classification", response_model=ClassificationOut,
            tags=["instructions"])
def put_classification(instruction_id: int, body: ClassificationIn, session: SessionDep,
                       user: CurrentUser) -> ClassificationOut:
    """Set whether a Self-Instruct task is a classification task (every instance of the task follows).
    Annotators may on the instructions they annotate; reviewers and admins on any."""
    return set_classification(session, instruction_id=instruction_id, value=body.is_classification, user=user)


@router.post("/instructions/{instruction_id}/classification", include_in_schema=False)
def post_classification(instruction_id: int, request: Request, session: SessionDep, user: CurrentUser,
                        value: Annotated[str, Form(max_length=5)] = "") -> Response:
    """The task page's toggle (HTMX): answers the toggle again, showing the new value."""
    out = set_classification(session, instruction_id=instruction_id, value=value == "yes", user=user)
    return render(request, "self_instruct/_classification.html",
                  {"instruction_id": instruction_id, "is_classification": out.is_classification, "saved": True})


@router.get("/projects/{slug}/self-instruct/report", include_in_schema=False)
def report_page(slug: str, request: Request, session: SessionDep, user: AdminUser,
                job: int | None = Query(None, ge=1, le=2**31)) -> Response:
    """The page; with `job`, only that round's table (the job page loads it into its result panel)."""
    ctx = {"user": user, "nav": "jobs", **report.context(session, get_project(session, slug=slug), job_id=job)}
    return render(request, "self_instruct/report.html", ctx, block="rounds" if job else None)
