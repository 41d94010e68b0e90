"""Every run evaluated: the evaluation a run names is started when it succeeds, and the run page shows the
results against the run's parent beside the snapshot it was trained on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import AppError, ValidationFailed
from app.evaluation.human import comparison_results
from app.evaluation.lineage import (
    approval_ids,
    evaluation_jobs,
    parent_of,
    rows_by_construction,
    run_ref,
    win_rate_against,
)
from app.evaluation.schemas import RunEvaluation
from app.evaluation.sets import get_set
from app.jobs.context import add_event
from app.jobs.kinds import get_kind
from app.models import Backend, HumanComparison, Project, TuningRun
from app.tuning.service import add_event as add_run_event


def check_run_evaluation(session: Session, project: Project, plan: RunEvaluation | None) -> None:
    """Refuse, at creation, an evaluation that could never start (422 naming evaluation.<field>)."""
    if plan is None:
        return
    try:
        get_set(session, project_id=project.id, name=plan.evaluation_set)
    except AppError as exc:
        raise ValidationFailed(exc.message, details=[{"field": "evaluation.evaluation_set",
                                                      "message": exc.message}]) from exc
    if plan.judge and not session.scalar(select(Backend.id).where(Backend.name == plan.judge)):
        raise ValidationFailed(f"Backend '{plan.judge}' does not exist.",
                               details=[{"field": "evaluation.judge", "message": "no such backend"}])


def baseline_for(session: Session, run: TuningRun, plan: RunEvaluation) -> str | None:
    """What the run is compared with: the plan's baseline, the previous round's run, or the base model's backend."""
    if plan.baseline:
        return plan.baseline
    parent = parent_of(session, run)
    if parent is not None:
        return run_ref(parent.id)
    return session.scalar(select(Backend.name).where(Backend.model == run.base_model).order_by(Backend.id).limit(1))


def start_after_run(session: Session, run: TuningRun) -> list[int]:
    """Queue the evaluation the run names (once it has succeeded); each problem goes to the run's event log."""
    from app.jobs.service import create_job

    raw = (run.settings or {}).get("evaluation")
    if not raw:
        return []
    plan = RunEvaluation.model_validate(raw)
    model, baseline = run_ref(run.id), baseline_for(session, run, plan)
    models = [model] if baseline is None else [baseline, model]
    wanted: list[tuple[str, dict[str, Any]]] = []
    if plan.judge and baseline is not None:
        wanted.append(("judge", {"evaluation_set": plan.evaluation_set, "models": models, "judge": plan.judge,
                                 "baseline": baseline}))
    if plan.reference_metrics:
        wanted.append(("reference-metrics", {"evaluation_set": plan.evaluation_set, "models": models}))
    started = []
    for kind, params in wanted:
        try:
            with session.begin_nested():
                job = create_job(session, user=None, project_slug=run.project.slug, kind_name=kind, params=params)
            add_event(session, job.id, "note", f"Started when run {run.id} succeeded.", run_id=run.id)
            started.append(job.id)
            add_run_event(session, run.id, "evaluation", {"job_id": job.id, "kind": kind})
        except AppError as exc:
            add_run_event(session, run.id, "evaluation", {"kind": kind, "error": exc.message})
    if plan.judge and baseline is None:
        add_run_event(session, run.id, "evaluation", {"kind": "judge", "error": (
            f"No baseline: no earlier run, and no backend serves the base model {run.base_model}. Add a local "
            "backend for it, or name a baseline.")})
    return started


def run_context(session: Session, run: TuningRun) -> dict[str, Any]:
    """The run page's evaluation panel: parent, snapshot, judged and reference results, human comparisons."""
    model = run_ref(run.id)
    parent = parent_of(session, run)
    parent_ref = run_ref(parent.id) if parent else None
    jobs = evaluation_jobs(session, run.project_id, model)
    judge = win_rate_against(jobs, model, parent_ref) or win_rate_against(jobs, model, None)
    judge_job = next((j for j in jobs if judge and j.id == judge["job_id"]), None)
    calibration = None
    if judge_job is not None:
        live = get_kind("judge").result_context(session, judge_job).get("calibration") or {}
        calibration = live.get(model) or live.get(judge["vs"])
    reference = next((j for j in jobs if j.kind == "reference-metrics"), None)
    ids = approval_ids(run)
    comparisons = [c for c in session.scalars(select(HumanComparison).where(
        HumanComparison.project_id == run.project_id)) if model in (c.model_a, c.model_b)]
    return {
        "model": model, "parent": parent, "parent_ref": parent_ref or "the base model",
        "snapshot": {"sha256": run.export.sha256, "version": run.export.version, "format": run.export.format,
                     "rows": run.export.row_counts or {},
                     "construction": rows_by_construction(session, ids) if ids is not None else None},
        "judge": judge, "judge_job": judge_job, "calibration": calibration,
        "reference": reference.result if reference else None, "reference_job": reference,
        "humans": [{"comparison": c, "results": comparison_results(session, c)} for c in comparisons],
        "planned": (run.settings or {}).get("evaluation"), "jobs": jobs,
    }
