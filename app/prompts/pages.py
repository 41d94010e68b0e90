"""Pages: the template library of a project (import/export promptsource YAML, CoT preset) and the editor with a
live preview on stored records (HTMX: the preview block of the same template re-renders as you type)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.admin.forms import field_errors
from app.core.bounds import MAX_ID, RowId
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import render
from app.datasets.service import get_project, list_datasets
from app.prompts import service
from app.prompts.schemas import PreviewRequest, TemplateCreate, TemplateUpdate
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)
TYPES = ("zero-shot", "few-shot", "cot", "inverted")


def _library(request: Request, session, user, slug: str, *, errors=None, form=None, status_code=200) -> Response:
    project = get_project(session, slug)
    templates = service.list_templates(session, project_slug=slug)
    by_task: dict[str, list] = {}
    for t in templates:
        by_task.setdefault(t.task, []).append((t, service.current(session, t)))
    tasks = sorted({d.task for d in list_datasets(session, project)} | set(by_task))
    ctx = {"user": user, "nav": "flan", "project": project, "by_task": by_task, "tasks": tasks,
           "errors": errors or {}, "form": form or {}}
    return render(request, "flan/templates.html", ctx, status_code=status_code)


@router.get("/projects/{slug}/templates")
def library(slug: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    return _library(request, session, user, slug)


@router.post("/projects/{slug}/templates/import")
async def import_yaml(slug: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        service.import_yaml(session, project_slug=slug, text=form.get("yaml", ""), task=form.get("task") or None,
                            type=form.get("type") if form.get("type") in TYPES else "zero-shot", user=user)
    except AppError as exc:
        session.rollback()
        return _library(request, session, user, slug, errors={"yaml": exc.message}, form=form, status_code=422)
    return RedirectResponse(f"/projects/{slug}/templates", status_code=303)


@router.post("/projects/{slug}/templates/preset")
async def add_preset(slug: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        service.add_preset(session, project_slug=slug, task=form.get("task", ""), preset="cot", user=user)
    except AppError as exc:
        session.rollback()
        return _library(request, session, user, slug, errors={"preset": exc.message}, form=form, status_code=422)
    return RedirectResponse(f"/projects/{slug}/templates", status_code=303)


def _draft(form: dict[str, str]) -> dict[str, Any]:
    """The editor's fields as a template's (metadata and few-shot layout nested)."""
    def flag(name: str) -> bool | None:
        return {"yes": True, "no": False}.get(form.get(name, ""))

    def listed(name: str) -> list[str] | None:
        items = [x.strip() for x in form.get(name, "").split(",") if x.strip()]
        return items or None

    data: dict[str, Any] = {
        "task": form.get("task", ""), "name": form.get("name", ""), "jinja": form.get("jinja", ""),
        "answer_choices": form.get("answer_choices") or None, "type": form.get("type", "zero-shot"),
        "reference": form.get("reference", ""),
        "metadata": {"original_task": flag("original_task"), "choices_in_prompt": flag("choices_in_prompt"),
                     "metrics": listed("metrics"), "languages": listed("languages")}}
    if any(form.get(k) for k in ("input_prefix", "target_prefix")) or form.get("type") in ("few-shot", "cot"):
        data["few_shot"] = {"input_prefix": form.get("input_prefix", ""),
                            "target_prefix": form.get("target_prefix", ""),
                            "delimiter": _unescape(form.get("delimiter", "\\n")),
                            "separator": _unescape(form.get("separator", "\\n\\n"))}
    return data


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\t", "\t")


def _escape(text: str) -> str:
    return text.replace("\n", "\\n").replace("\t", "\\t")


def _editor(request: Request, session, user, slug: str, form: dict[str, str], *, template=None, errors=None,
            status_code: int = 200) -> Response:
    project = get_project(session, slug)
    preview = None
    if form.get("task") and form.get("jinja"):
        preview = service.preview(session, project_slug=slug, data=PreviewRequest(
            task=form["task"], jinja=form["jinja"], answer_choices=form.get("answer_choices") or None,
            setting="zs-opt" if form.get("preview_setting") == "zs-opt" else "zs-noopt"))
    ctx = {"user": user, "nav": "flan", "project": project, "form": form, "template": template,
           "errors": errors or {}, "preview": preview, "types": TYPES}
    return render(request, "flan/template_edit.html", ctx, block="preview", status_code=status_code)


@router.get("/projects/{slug}/templates/new")
def new_template(slug: str, request: Request, session: SessionDep, user: AdminUser, task: str = "") -> Response:
    form = {"task": task, "type": "zero-shot", "delimiter": "\\n", "separator": "\\n\\n", "original_task": "yes",
            "languages": "en", "jinja": ""}
    return _editor(request, session, user, slug, form)


@router.get("/projects/{slug}/templates/{template_id}/edit")
def edit_template(slug: str, template_id: RowId, request: Request, session: SessionDep, user: AdminUser) -> Response:
    template = service.get_template(session, template_id)
    version = service.current(session, template)
    meta, few = version.meta or {}, version.few_shot or {}
    yes_no = {True: "yes", False: "no", None: ""}
    form = {"task": template.task, "name": template.name, "jinja": version.jinja,
            "answer_choices": version.answer_choices or "", "type": version.type, "reference": version.reference,
            "original_task": yes_no[meta.get("original_task")],
            "choices_in_prompt": yes_no[meta.get("choices_in_prompt")],
            "metrics": ", ".join(meta.get("metrics") or []), "languages": ", ".join(meta.get("languages") or []),
            "input_prefix": few.get("input_prefix", ""), "target_prefix": few.get("target_prefix", ""),
            "delimiter": _escape(few.get("delimiter", "\n")), "separator": _escape(few.get("separator", "\n\n"))}
    return _editor(request, session, user, slug, form, template=template)


@router.post("/projects/{slug}/templates/draft")
async def preview_draft(slug: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    """The preview block for the draft being typed (HTMX, on every pause in typing)."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return _editor(request, session, user, slug, form)


@router.post("/projects/{slug}/templates/save")
async def save(slug: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    raw_id = form.get("template_id", "")
    template_id = int(raw_id) if raw_id.isdigit() and 0 < int(raw_id) <= MAX_ID else None
    template = service.get_template(session, template_id) if template_id else None
    try:
        draft = _draft(form)
        if template is None:
            service.create_template(session, project_slug=slug, data=TemplateCreate.model_validate(draft), user=user)
        else:
            update = {k: v for k, v in draft.items() if k not in ("task", "name")}
            service.update_template(session, template_id=template.id, data=TemplateUpdate.model_validate(update),
                                    user=user)
    except (AppError, ValidationError) as exc:
        session.rollback()
        errors = field_errors(exc)
        if isinstance(exc, AppError) and exc.details:
            listed: dict[str, list[str]] = {}
            for d in exc.details:
                listed.setdefault(str(d.get("field") or "form"), []).append(d.get("message", exc.message))
            errors = {field: "; ".join(messages) for field, messages in listed.items()}
        return _editor(request, session, user, slug, form, template=template, errors=errors, status_code=422)
    return RedirectResponse(f"/projects/{slug}/templates", status_code=303)
