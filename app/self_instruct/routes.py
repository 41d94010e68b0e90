"""The bootstrap report: every round of a project side by side, or one round for a job's result panel."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.core.db import SessionDep
from app.core.templating import render
from app.projects.service import get_project
from app.self_instruct import report
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)


@router.get("/projects/{slug}/self-instruct/report")
def report_page(slug: str, request: Request, session: SessionDep, user: AdminUser,
                job: int | None = Query(None, ge=1, le=2**31)) -> Response:
    """The page; with `job`, only that round's table (the job page loads it into its result panel)."""
    ctx = {"user": user, "nav": "jobs", **report.context(session, get_project(session, slug=slug), job_id=job)}
    return render(request, "self_instruct/report.html", ctx, block="rounds" if job else None)
