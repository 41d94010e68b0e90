"""The template library: create, edit (a new version), import and export promptsource YAML, preview."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.datasets.service import TASK, datasets_of_task, get_project, sample
from app.flan.rows import RowContext, render_row
from app.flan.tokens import TokenCounter
from app.models import PromptTemplate, PromptTemplateVersion, User
from app.prompts import promptsource
from app.prompts.compiled import CompiledTemplate, compile_template
from app.prompts.sandbox import Problem, RenderError, check
from app.prompts.schemas import PreviewOut, PreviewRequest, PreviewRow, TemplateCreate, TemplateUpdate

CONTENT = ("type", "jinja", "answer_choices", "reference", "meta", "few_shot")
PREVIEW_RECORDS = 5


def task_fields(session: Session, project_id: int, task: str) -> list[str] | None:
    """The fields the task's records have (all its datasets together); None when the task has no dataset yet."""
    datasets = datasets_of_task(session, project_id, task)
    if not datasets:
        return None
    return list(dict.fromkeys(name for d in datasets for name in d.fields))


def _refuse(problems: list[Problem], name: str) -> None:
    if problems:
        raise ValidationFailed(f"Template '{name}' cannot be saved: " + "; ".join(p.message for p in problems),
                               details=[{"field": p.field, "code": p.code, "message": p.message} for p in problems])


def _content(data: TemplateCreate | dict[str, Any]) -> dict[str, Any]:
    d = data if isinstance(data, dict) else data.model_dump()
    return {"type": d["type"], "jinja": d["jinja"], "answer_choices": d.get("answer_choices"),
            "reference": d.get("reference") or "", "meta": dict(d.get("metadata") or {}),
            "few_shot": dict(d.get("few_shot") or {})}


def _version_content(version: PromptTemplateVersion) -> dict[str, Any]:
    return {"type": version.type, "jinja": version.jinja, "answer_choices": version.answer_choices,
            "reference": version.reference, "meta": dict(version.meta or {}), "few_shot": dict(version.few_shot or {})}


def create_template(session: Session, *, project_slug: str, data: TemplateCreate, user: User | None,
                    uid: str | None = None, extra: dict[str, Any] | None = None) -> PromptTemplate:
    project = get_project(session, project_slug)
    _refuse(check(data.jinja, data.answer_choices, fields=task_fields(session, project.id, data.task)).problems,
            data.name)
    if session.scalar(select(PromptTemplate.id).where(PromptTemplate.project_id == project.id,
                                                      PromptTemplate.task == data.task,
                                                      PromptTemplate.name == data.name)):
        raise Conflict(f"Task '{data.task}' already has a template '{data.name}'; edit it to make a new version.")
    idx = session.scalar(select(func.count()).where(PromptTemplate.project_id == project.id,
                                                    PromptTemplate.task == data.task)) or 0
    template = PromptTemplate(project_id=project.id, task=data.task, name=data.name, idx=idx,
                              uid=uid or str(uuid.uuid4()), version=1, created_by_id=user.id if user else None)
    session.add(template)
    session.flush()
    session.add(PromptTemplateVersion(template_id=template.id, version=1, extra=extra or {},
                                      created_by_id=template.created_by_id, **_content(data)))
    session.flush()
    return template


def get_template(session: Session, template_id: int) -> PromptTemplate:
    template = session.get(PromptTemplate, template_id)
    if template is None:
        raise NotFound(f"There is no template {template_id}.")
    return template


def current(session: Session, template: PromptTemplate) -> PromptTemplateVersion:
    return session.scalars(select(PromptTemplateVersion).where(
        PromptTemplateVersion.template_id == template.id,
        PromptTemplateVersion.version == template.version)).one()


def _new_version(session: Session, template: PromptTemplate, content: dict[str, Any], extra: dict[str, Any],
                 user: User | None) -> bool:
    """Add a version when the content differs from the current one; False when nothing changed."""
    latest = current(session, template)
    if _version_content(latest) == content:
        return False
    fields = task_fields(session, template.project_id, template.task)
    _refuse(check(content["jinja"], content["answer_choices"], fields=fields).problems, template.name)
    template.version = latest.version + 1
    session.add(PromptTemplateVersion(template_id=template.id, version=template.version, extra=extra,
                                      created_by_id=user.id if user else None, **content))
    session.flush()
    return True


def update_template(session: Session, *, template_id: int, data: TemplateUpdate, user: User | None
                    ) -> tuple[PromptTemplate, bool]:
    """An edit: a new version when anything changed (rows already rendered keep naming the old one)."""
    template = get_template(session, template_id)
    latest = current(session, template)
    content = _version_content(latest)
    given = data.model_dump(exclude_unset=True)
    extra = {**(latest.extra or {})}
    for key, value in given.items():
        if value is not None or key == "answer_choices":  # answer_choices may be cleared; the rest only set
            content["meta" if key == "metadata" else key] = value
    for key in given:  # a field now set explicitly is no longer one the promptsource file left out
        extra["absent"] = [k for k in extra.get("absent", []) if k != key]
    changed = _new_version(session, template, content, extra, user)
    return template, changed


def list_templates(session: Session, *, project_slug: str, task: str | None = None) -> list[PromptTemplate]:
    project = get_project(session, project_slug)
    query = select(PromptTemplate).where(PromptTemplate.project_id == project.id)
    if task:
        query = query.where(PromptTemplate.task == task)
    return list(session.scalars(query.order_by(PromptTemplate.task, PromptTemplate.idx)))


def current_versions(session: Session, project_id: int, *, task: str | None = None, ids: list[int] | None = None
                     ) -> list[tuple[PromptTemplate, PromptTemplateVersion]]:
    query = (select(PromptTemplate, PromptTemplateVersion)
             .join(PromptTemplateVersion, (PromptTemplateVersion.template_id == PromptTemplate.id)
                   & (PromptTemplateVersion.version == PromptTemplate.version))
             .where(PromptTemplate.project_id == project_id).order_by(PromptTemplate.idx, PromptTemplate.id))
    if task is not None:
        query = query.where(PromptTemplate.task == task)
    if ids is not None:
        query = query.where(PromptTemplate.id.in_(ids))
    return [(t, v) for t, v in session.execute(query).tuples()]


def compiled(template: PromptTemplate, version: PromptTemplateVersion) -> CompiledTemplate:
    return compile_template(template_id=template.id, version=version.version, name=template.name, type=version.type,
                            idx=template.idx, jinja=version.jinja, answer_choices=version.answer_choices,
                            metadata=version.meta, few_shot=version.few_shot)


def add_preset(session: Session, *, project_slug: str, task: str, preset: str, user: User | None
               ) -> list[PromptTemplate]:
    """Add a preset's templates to a task (e.g. "cot": chain-of-thought templates and their inversions)."""
    from app.flan.presets import TEMPLATE_PRESETS

    if preset not in TEMPLATE_PRESETS:
        raise ValidationFailed(f"Unknown preset '{preset}'; presets: {', '.join(TEMPLATE_PRESETS)}.",
                               details=[{"field": "preset", "message": "unknown preset"}])
    if not TASK.match(task or ""):
        raise ValidationFailed("Name the task the templates are for (letters, digits and _ . - /).",
                               details=[{"field": "task", "message": "the task's name"}])
    return [create_template(session, project_slug=project_slug, data=TemplateCreate(task=task, **spec), user=user)
            for spec in TEMPLATE_PRESETS[preset]]


# ---------------------------------------------------------------- promptsource YAML


def import_yaml(session: Session, *, project_slug: str, text: str, task: str | None = None,
                type: str = "zero-shot", user: User | None = None) -> list[tuple[PromptTemplate, str]]:
    """Every template of a promptsource file, all or nothing: new ones created, known ones (by promptsource id)
    given a new version when they changed. Returns (template, "created" | "updated" | "unchanged")."""
    try:
        parsed = promptsource.parse(text)
    except promptsource.PromptsourceError as exc:
        raise ValidationFailed(f"Not a promptsource templates file: {exc}",
                               details=[{"field": "body", "message": str(exc)}]) from exc
    project = get_project(session, project_slug)
    task = task or parsed.task
    results = []
    for source in parsed.templates:
        data = TemplateCreate(task=task, name=source.name, jinja=source.jinja, answer_choices=source.answer_choices,
                              type=type, reference=source.reference, metadata=source.metadata)
        known = session.scalar(select(PromptTemplate).where(PromptTemplate.project_id == project.id,
                                                            PromptTemplate.uid == source.uid))
        if known is None:
            results.append((create_template(session, project_slug=project_slug, data=data, user=user,
                                            uid=source.uid, extra=source.extra), "created"))
            continue
        if known.task != task:
            raise Conflict(f"Template {source.uid} ('{source.name}') already belongs to task '{known.task}'.")
        changed = _new_version(session, known, _content(data), source.extra, user)
        results.append((known, "updated" if changed else "unchanged"))
    return results


def export_yaml(session: Session, *, project_slug: str, task: str) -> str:
    """The task's templates (current versions) as a promptsource templates.yaml."""
    project = get_project(session, project_slug)
    pairs = current_versions(session, project.id, task=task)
    if not pairs:
        raise NotFound(f"Task '{task}' has no templates in project '{project_slug}'.")
    first = pairs[0][1].extra or {}
    dataset, _, subset = task.partition("/")
    if "dataset" in first:
        dataset, subset = first["dataset"], first.get("subset") or ""
    templates = [promptsource.SourceTemplate(uid=t.uid, name=t.name, jinja=v.jinja, answer_choices=v.answer_choices,
                                             reference=v.reference, metadata=dict(v.meta or {}), extra=v.extra or {})
                 for t, v in pairs]
    return promptsource.dump(promptsource.SourceFile(dataset, subset or None, templates))


# ---------------------------------------------------------------- preview


def preview(session: Session, *, project_slug: str, data: PreviewRequest) -> PreviewOut:
    """A draft rendered on the first five records of the task's first dataset; problems found while typing."""
    project = get_project(session, project_slug)
    datasets = datasets_of_task(session, project.id, data.task)
    fields = task_fields(session, project.id, data.task)
    checked = check(data.jinja, data.answer_choices, fields=fields)
    problems = [{"code": p.code, "field": p.field, "message": p.message} for p in checked.problems]
    if not datasets:
        return PreviewOut(problems=problems, rows=[], dataset=None)
    if any(p.code in ("syntax", "empty", "no_imports", "private_attribute") for p in checked.problems):
        return PreviewOut(problems=problems, rows=[], dataset=datasets[0].name)
    try:
        tpl = compile_template(template_id=0, version=0, name="draft", type="zero-shot", idx=0, jinja=data.jinja,
                               answer_choices=data.answer_choices)
    except RenderError as exc:
        return PreviewOut(problems=[*problems, {"code": exc.code, "field": "jinja", "message": exc.message}],
                          rows=[], dataset=datasets[0].name)
    # The job's own row renderer, zero-shot: the preview shows what rendering will store.
    ctx = RowContext(dataset_id=datasets[0].id, seed=data.seed, k=0, budget=0, counter=TokenCounter("none"),
                     pool=[])
    rows = []
    for position, record in enumerate(sample(session, datasets[0].id, PREVIEW_RECORDS)):
        try:
            row = render_row(tpl, record, position, data.setting, ctx)
            rows.append(PreviewRow(record=position, input=row.instruction, target=row.target))
        except RenderError as exc:
            rows.append(PreviewRow(record=position, error=exc.message, code=exc.code))
    return PreviewOut(problems=problems, rows=rows, dataset=datasets[0].name)
