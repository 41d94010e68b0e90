"""Ablations: several data choices (a curated subset, a random N, the whole set, 2x and 4x curated subsets, quality
filtered or not), each exported, trained and evaluated the same way, read from one table.

Every arm is trained on its own data and evaluated on the same thing: the project's approved eval-split
instructions, which go into every arm's export as its eval file (per-example losses make paired intervals).
A worker task advances the arms step by step (`step`) until each has a finished run or an error.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from app.core.errors import AppError, NotFound, ValidationFailed
from app.core.queue import enqueue_after_commit
from app.curation import scores, subsets
from app.curation.ablation_schemas import AblationCreate, AblationEvaluation, ArmSpec
from app.curation.leakage import not_leaking
from app.models import (
    Ablation,
    AblationStatus,
    Approval,
    Backend,
    Export,
    ExportStatus,
    Instruction,
    Job,
    JobStatus,
    Project,
    RunState,
    ScoreKind,
    Split,
    TuningRun,
    User,
)

STEP_TASK = "tuneloop.curation.ablation_step"
TERMINAL = ("succeeded", "failed")


def approved_ids(session: Session, project_id: int, split: Split) -> list[int]:
    """Approved instructions of a split; training ones never include a leak."""
    query = select(Approval.instruction_id).join(Instruction, Instruction.id == Approval.instruction_id).where(
        Approval.project_id == project_id, Instruction.split == split, ~Approval.all_bad)
    if split == Split.train:  # never an evaluation-only instruction nor a near-duplicate of an evaluation item
        query = query.where(~Instruction.evaluation_only, not_leaking(Approval.instruction_id))
    return list(session.scalars(query.order_by(Approval.instruction_id)))


def label(arm: ArmSpec) -> str:
    return {"subset": f"subset {arm.subset}", "random": f"random {arm.n}", "whole": "the whole set",
            "curated": f"curated {arm.n or ''}{f'{arm.multiple}x ' if arm.multiple else ''}like {arm.subset}".strip(),
            "quality": f"quality-filtered{f' (judge >= {arm.min_score:g})' if arm.min_score else ''}"}[arm.data]


def create(session: Session, *, slug: str, data: AblationCreate, user: User) -> Ablation:
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        raise NotFound(f"Project {slug} does not exist.")
    evals = approved_ids(session, project.id, Split.eval)
    if data.evaluation is not None:
        _check_evaluation(session, project, data.evaluation)
    elif not evals:
        raise ValidationFailed("Every arm is evaluated on the project's approved eval-split instructions, and it has "
                               "none: approve some instructions of split 'eval' first, or name an evaluation set.",
                               details=[{"field": "evaluation", "message": "no approved eval-split instruction"}])
    pool = len(approved_ids(session, project.id, Split.train))
    for index, arm in enumerate(data.arms):
        field = f"arms[{index}]"
        if arm.data in ("subset", "curated") and subsets.find(session, project.id, arm.subset or "") is None:
            raise ValidationFailed(f"{field}: project {slug} has no subset '{arm.subset}'.",
                                   details=[{"field": f"{field}.subset", "message": "no such subset"}])
        if arm.data == "random" and arm.n > pool:
            raise ValidationFailed(f"{field}: a random {arm.n} is more than the {pool} approved training "
                                   "instructions.", details=[{"field": f"{field}.n", "message": f"at most {pool}"}])
    arms = [{"name": arm.name or f"{k + 1}. {label(arm)}", "label": label(arm), "spec": arm.model_dump(),
             "state": "pending"} for k, arm in enumerate(data.arms)]
    ablation = Ablation(project_id=project.id, name=data.name or f"{project.slug} ablation", base_model=data.base_model,
                        method=data.method, settings={"hyperparameters": data.hyperparameters, "lora": data.lora},
                        evaluation={"kind": "eval-loss", "eval_rows": len(evals),
                                    "set": data.evaluation.model_dump() if data.evaluation else None}, arms=arms,
                        status=AblationStatus.running, created_by_id=user.id)
    session.add(ablation)
    session.flush()
    enqueue_after_commit(session, STEP_TASK, ablation.id)
    return ablation


def get(session: Session, ablation_id: int) -> Ablation:
    ablation = session.get(Ablation, ablation_id)
    if ablation is None:
        raise NotFound(f"Ablation {ablation_id} does not exist.")
    return ablation


def list_for(session: Session, project_id: int) -> list[Ablation]:
    return list(session.scalars(select(Ablation).where(Ablation.project_id == project_id)
                                .order_by(Ablation.id.desc())))


def step(session: Session, ablation_id: int) -> bool:
    """Move every arm as far as it can go now; True once all are finished (the task stops polling then)."""
    ablation = session.get(Ablation, ablation_id)
    if ablation is None or ablation.status != AblationStatus.running:
        return True
    user = session.get(User, ablation.created_by_id) if ablation.created_by_id else None
    for index, arm in enumerate(ablation.arms):
        if user is None and arm["state"] not in TERMINAL:
            arm.update(state="failed", error="The admin who started this ablation no longer exists.")
            continue
        try:
            _advance(session, ablation, index, arm, user)
        except AppError as exc:
            arm.update(state="failed", error=exc.message)
    flag_modified(ablation, "arms")
    if not all(a["state"] in TERMINAL for a in ablation.arms):
        return False
    if not any(a["state"] == "succeeded" for a in ablation.arms):
        ablation.status, ablation.error = AblationStatus.failed, "No arm finished; see each arm's error."
        return True
    if ablation.evaluation.get("set") and not _evaluated(session, ablation, user):
        return False
    ablation.status = AblationStatus.succeeded
    return True


def _check_evaluation(session: Session, project: Project, plan: AblationEvaluation) -> None:
    from app.evaluation.sets import get_set

    try:
        get_set(session, project_id=project.id, name=plan.evaluation_set)
    except AppError as exc:
        raise ValidationFailed(exc.message, details=[{"field": "evaluation.evaluation_set",
                                                      "message": exc.message}]) from exc
    if plan.judge and not session.scalar(select(Backend.id).where(Backend.name == plan.judge)):
        raise ValidationFailed(f"Backend '{plan.judge}' does not exist.",
                               details=[{"field": "evaluation.judge", "message": "no such backend"}])


def _evaluated(session: Session, ablation: Ablation, user: User | None) -> bool:
    """Start the set's evaluation of every finished arm once, then fold its results into the arms when it ends."""
    from app.jobs.service import create_job

    plan = AblationEvaluation.model_validate(ablation.evaluation["set"])
    done = [a for a in ablation.arms if a["state"] == "succeeded"]
    models = [f"run-{a['run_id']}" for a in done]
    jobs: dict[str, int] = ablation.evaluation.get("jobs") or {}
    if not jobs:
        base = {"evaluation_set": plan.evaluation_set, "models": models, "max_tokens": plan.max_tokens,
                "limit": plan.limit}
        wanted = []
        if plan.judge and len(models) >= 2:
            wanted.append(("judge", {**base, "judge": plan.judge, "baseline": models[0]}))
        if plan.reference_metrics:
            wanted.append(("reference-metrics", base))
        refused = []
        for kind, params in wanted:
            try:
                with session.begin_nested():
                    jobs[kind] = create_job(session, user=user, project_slug=ablation.project.slug, kind_name=kind,
                                            params=params).id
            except AppError as exc:
                refused.append(f"{kind}: {exc.message}")
        ablation.evaluation = {**ablation.evaluation, "jobs": jobs}
        ablation.error = "; ".join(refused) or None
        return not jobs
    found = {kind: session.get(Job, job_id) for kind, job_id in jobs.items()}
    if any(job.is_active for job in found.values()):
        return False
    errors = [f"{kind} job {job.id} {job.status.value}: {job.error}" for kind, job in found.items()
              if job.status != JobStatus.succeeded]
    judged = found.get("judge")
    comparisons = (judged.result or {}).get("comparisons", {}) if judged is not None else {}
    scored = found.get("reference-metrics")
    rouge = (scored.result or {}).get("scores", {}) if scored is not None else {}
    for arm, model in zip(done, models, strict=True):
        result = dict(arm.get("result") or {})
        if model in comparisons:
            result["win_rate"] = comparisons[model]
        if (rouge.get(model) or {}).get("rouge"):
            result["rouge_l"] = rouge[model]["rouge"]["rouge_l"]
        arm["result"] = result
    flag_modified(ablation, "arms")
    ablation.error = "; ".join([*errors, *([ablation.error] if ablation.error else [])]) or None
    return True


def _advance(session: Session, ablation: Ablation, index: int, arm: dict[str, Any], user: User | None) -> None:
    spec = ArmSpec.model_validate(arm["spec"])
    if arm["state"] == "pending":
        if spec.data == "curated":
            arm.update(state="curating", job_id=_start_curate(session, ablation, index, spec, user))
            return
        _export(session, ablation, index, arm, _train_ids(session, ablation, spec), user)
    if arm["state"] == "curating":
        job = session.get(Job, arm["job_id"])
        if job.status == JobStatus.succeeded:
            picked = subsets.find(session, ablation.project_id, _name(ablation, index, "pick"))
            _export(session, ablation, index, arm, subsets.member_ids(session, picked.id), user)
        elif job.status in (JobStatus.failed, JobStatus.cancelled):
            arm.update(state="failed", error=f"The curate job {job.id} {job.status.value}: {job.error}")
    if arm["state"] == "exporting":
        export = session.get(Export, arm["export_id"])
        if export.status == ExportStatus.succeeded:
            from app.tuning.schemas import TuningRunCreate
            from app.tuning.service import create_run

            body = TuningRunCreate(project=ablation.project.slug, export_id=export.id, base_model=ablation.base_model,
                                   method=ablation.method, name=f"{ablation.name}: {arm['name']}"[:200],
                                   hyperparameters=ablation.settings.get("hyperparameters") or {},
                                   lora=ablation.settings.get("lora") or {},
                                   eval={"enabled": True, "num_samples": 0})  # the table reads losses, not samples
            arm.update(state="training", run_id=create_run(session, user=user, data=body).id)
        elif export.status == ExportStatus.failed:
            arm.update(state="failed", error=f"Export {export.id} failed: {export.error}")
    if arm["state"] == "training":
        run = session.get(TuningRun, arm["run_id"])
        if run.state == RunState.succeeded:
            arm.update(state="succeeded", result=_result(run))
        elif run.state in (RunState.failed, RunState.cancelled):
            arm.update(state="failed", error=f"Tuning run {run.id} {run.state.value}: {run.error or ''}".strip())


def _name(ablation: Ablation, index: int, part: str = "data") -> str:
    return f"ablation-{ablation.id}-{index + 1}-{part}"


def _train_ids(session: Session, ablation: Ablation, spec: ArmSpec) -> list[int]:
    pool = approved_ids(session, ablation.project_id, Split.train)
    if spec.data == "whole":
        return pool
    if spec.data == "random":
        return sorted(random.Random(spec.seed).sample(pool, spec.n))
    if spec.data == "subset":
        members = set(subsets.member_ids(session, subsets.find(session, ablation.project_id, spec.subset).id))
        return [i for i in pool if i in members]
    refused = scores.rule_failures(session, ablation.project_id)
    judged = scores.mean_scores(session, ablation.project_id, ScoreKind.judge)
    return [i for i in pool if i not in refused and (spec.min_score is None or judged.get(i, 0) >= spec.min_score)]


def _start_curate(session: Session, ablation: Ablation, index: int, spec: ArmSpec, user: User | None) -> int:
    from app.jobs.service import create_job

    base = subsets.find(session, ablation.project_id, spec.subset)
    meta = base.meta or {}
    target = spec.n or (spec.multiple or 1) * base.size
    params = {"target_n": target, "subset": _name(ablation, index, "pick"), "filter": {"status": ["approved"]},
              "threshold": meta.get("threshold", 0.9), "strategy": meta.get("method", "score-first"),
              "rank_by": meta.get("rank_by", "auto") if meta.get("rank_by") != "none" else "none"}
    model = meta.get("embedding_model", "")
    if model and not model.startswith(("openai:", "dir:")):
        params["embedding_model"] = model
    elif model.startswith("dir:"):
        params["embedding_model"] = model.removeprefix("dir:")
    job = create_job(session, user=user, project_slug=ablation.project.slug, kind_name="curate", params=params)
    return job.id


def _export(session: Session, ablation: Ablation, index: int, arm: dict[str, Any], train: list[int],
            user: User | None) -> None:
    from app.exports.schemas import ExportCreate
    from app.exports.service import create_export

    if not train:
        raise ValidationFailed("This data choice holds no approved training instruction.")
    evals = approved_ids(session, ablation.project_id, Split.eval)
    name = _name(ablation, index)
    if subsets.find(session, ablation.project_id, name) is None:
        subsets.add_members(session, project_id=ablation.project_id, name=name, instruction_ids=train + evals,
                            scores=[None] * (len(train) + len(evals)), job_id=None,
                            meta={"method": "ablation", "ablation_id": ablation.id, "arm": arm["name"]})
    body = ExportCreate(format="sft-messages", eval_fraction=0.0, filters={"subset": name})
    export = create_export(session, project_slug=ablation.project.slug, data=body, user=user)
    arm.update(state="exporting", export_id=export.id, train_ids=len(train))


def _result(run: TuningRun) -> dict[str, Any]:
    evaluation = run.evaluation or {}
    counts = run.export.row_counts or {}
    mean = (run.token_stats or {}).get("mean")
    # Tokens seen in training: the mean sample length times the samples and the epochs.
    tokens = round(mean * (counts.get("train") or 0) * (run.num_epochs or 1)) if mean else None
    return {"loss_before": evaluation.get("loss_before"), "loss_after": evaluation.get("loss_after"),
            "losses_after": evaluation.get("losses_after"), "train_rows": counts.get("train"),
            "eval_rows": counts.get("eval"), "runtime_s": run.runtime_s, "steps": run.step,
            "train_loss": run.train_loss, "tokens_per_second": run.tokens_per_second, "train_tokens": tokens}
