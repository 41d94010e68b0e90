"""Evaluation pages: the project's evaluations (sets, benchmark tasks, jobs with calibration, human comparisons
and a form to start one) and the rounds of the loop as a table and a chart."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.core.db import SessionDep
from app.core.errors import AppError, pydantic_details
from app.core.templating import render
from app.evaluation import service
from app.evaluation.schemas import ComparisonCreate
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)


def _overview(request: Request, session, user, slug: str, *, form: dict | None = None,
              errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    ctx = {"user": user, "nav": "jobs", **service.overview(session, slug=slug), "form": form or {},
           "errors": errors or {}}
    return render(request, "evaluation/overview.html", ctx, status_code=status_code)


@router.get("/projects/{slug}/evaluation")
def overview(request: Request, slug: str, session: SessionDep, user: AdminUser) -> Response:
    return _overview(request, session, user, slug)


@router.post("/projects/{slug}/comparisons")
async def create_comparison(request: Request, slug: str, session: SessionDep, user: AdminUser) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        data = ComparisonCreate(name=form.get("name", ""), evaluation_set=form.get("evaluation_set", ""),
                                model_a=form.get("model_a", ""), model_b=form.get("model_b", ""),
                                overlap=int(form.get("overlap") or 1) if (form.get("overlap") or "1").isdigit() else 0)
        service.create_comparison(session, slug=slug, data=data, by=user)
    except ValidationError as exc:
        errors = {d["field"] or "form": d["message"] for d in pydantic_details(list(exc.errors()))}
        return _overview(request, session, user, slug, form=form, errors=errors, status_code=422)
    except AppError as exc:
        session.rollback()
        errors = {str(d.get("field") or "form"): d.get("message", exc.message) for d in exc.details} or \
            {"form": exc.message}
        return _overview(request, session, user, slug, form=form, errors=errors, status_code=exc.status_code)
    return RedirectResponse(f"/projects/{slug}/evaluation#comparisons", status_code=303)


@router.get("/projects/{slug}/rounds")
def rounds(request: Request, slug: str, session: SessionDep, user: AdminUser) -> Response:
    from app.projects.service import get_project

    rows = service.project_rounds(session, slug=slug)
    chart = {"round": [r["round"] for r in rows], "win_rate": [r["win_rate"] for r in rows],
             "lc_win_rate": [r["lc_win_rate"] for r in rows], "acceptance": [r["acceptance_rate"] for r in rows],
             "edit_distance": [r["edit_distance"] for r in rows]}
    return render(request, "evaluation/rounds.html", {"user": user, "nav": "runs", "rows": rows,
                                                      "project": get_project(session, slug=slug),
                                                      "chart": chart})
