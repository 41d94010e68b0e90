"""Browser pages for tuning runs: list, new-run form, and the live run page with its actions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.core.bounds import RowId
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.forms import inline_errors
from app.core.queue import send_task
from app.core.templating import render
from app.generations.forms import parse_generate_form
from app.generations.service import cancel_job, create_job, describe, jobs_for_run
from app.grounded.before_after import before_after
from app.jobs.service import reap_jobs
from app.tuning import artifacts, forms, relay, service
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)


def _reap(session: SessionDep) -> None:
    # Opportunistic: a page that shows a run's state makes sure a dead worker's run (or generation job, which the
    # run page lists) is not shown as running.
    runs, jobs = relay.reap(session), reap_jobs(session)
    if runs or jobs:
        session.expire_all()


@router.get("/runs")
def runs_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    _reap(session)
    runs = service.list_runs(session)
    active = any(r.is_active for r in runs)
    return render(request, "tuning/runs.html", {"user": user, "nav": "runs", "runs": runs, "active": active},
                  block="runs")


@router.get("/runs/new")
def new_run_page(request: Request, session: SessionDep, user: AdminUser, preset: str = "",
                 clone: RowId | None = None) -> Response:
    """The form; `?preset=alpaca` fills it with that recipe's settings, `?clone=ID` with that run's choices
    (each still editable: nothing starts until the form is submitted)."""
    form = forms.form_from_run(service.get_run(session, run_id=clone)) if clone else forms.preset_form(preset)
    ctx = {"user": user, "nav": "runs", "form": form, "error": None, "errors": {}, "cloned_from": clone,
           **forms.form_choices(session)}
    return render(request, "tuning/new.html", ctx)


@router.post("/runs/new")
async def create_run(request: Request, session: SessionDep, user: AdminUser) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        run = service.create_run(session, user=user, data=forms.parse_form(form))
    except AppError as exc:
        ctx = {"user": user, "nav": "runs", "form": form, "error": exc, "errors": inline_errors(exc),
               **forms.form_choices(session)}
        return render(request, "tuning/new.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.post("/runs/tiny-model")
def build_tiny_model(user: AdminUser) -> Response:
    """Ask a worker to build the tiny demo model used as the default base model."""
    send_task("tuneloop.tuning.init_tiny")
    return RedirectResponse("/runs/new?tiny=building", status_code=303)


def _run_ctx(session, user, run_id: int, **extra) -> dict:
    from app.evaluation.runs import run_context

    run = service.get_run(session, run_id=run_id)
    return {"user": user, "nav": "runs", "run": run, "artifacts": artifacts.list_artifacts(run),
            "evaluation": run_context(session, run) if run.state.value == "succeeded" else None,
            "jobs": [describe(session, j) for j in jobs_for_run(session, run_id=run.id)],
            "grounded": before_after(session, run),
            "can_resume": run.state.value in ("failed", "cancelled") and service.has_checkpoint(run),
            "eval_skipped": service.eval_skipped(run), "gen_form": {}, "gen_errors": {}, **extra}


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: RowId, session: SessionDep, user: AdminUser) -> Response:
    _reap(session)
    return render(request, "tuning/run.html", _run_ctx(session, user, run_id), block="live")


@router.post("/runs/{run_id}/cancel")
def cancel(run_id: RowId, session: SessionDep, user: AdminUser) -> Response:
    service.cancel_run(session, run_id=run_id)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/resume")
def resume(run_id: RowId, session: SessionDep, user: AdminUser) -> Response:
    service.resume_run(session, run_id=run_id)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/clone")
def clone(run_id: RowId, session: SessionDep, user: AdminUser) -> Response:
    """Clone opens the New run form filled in; nothing starts until it is submitted."""
    service.get_run(session, run_id=run_id)
    return RedirectResponse(f"/runs/new?clone={run_id}", status_code=303)


@router.post("/runs/{run_id}/generate")
async def generate(request: Request, run_id: RowId, session: SessionDep, user: AdminUser) -> Response:
    """The run page's button: candidates from the tuned model for the project's pending instructions."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    run = service.get_run(session, run_id=run_id)
    try:
        create_job(session, user=user, data=parse_generate_form(form, project=run.project.slug, run_id=run.id))
    except AppError as exc:
        # The run page again, the message beside the field it is about and the numbers as typed.
        ctx = _run_ctx(session, user, run_id, gen_form=form, gen_errors=inline_errors(exc))
        return render(request, "tuning/run.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/runs/{run_id}#generations", status_code=303)


@router.post("/runs/{run_id}/generations/{job_id}/cancel")
def cancel_generation(run_id: RowId, job_id: RowId, session: SessionDep, user: AdminUser) -> Response:
    cancel_job(session, job_id=job_id, run_id=run_id, user=user)
    return RedirectResponse(f"/runs/{run_id}#generations", status_code=303)
