"""REST: the template library. JSON templates or promptsource YAML in; versions, YAML export and previews out."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.core.bounds import RowId
from app.core.db import SessionDep
from app.core.errors import NotFound, ValidationFailed, pydantic_details
from app.models import PromptTemplate, PromptTemplateVersion
from app.prompts import service
from app.prompts.schemas import (
    PresetCreate,
    PreviewOut,
    PreviewRequest,
    TemplateCreate,
    TemplateCreated,
    TemplateOut,
    TemplateTypeName,
    TemplateUpdate,
    VersionOut,
)
from app.users.deps import AdminUser, ReviewerUser

router = APIRouter(prefix="/api/v1", tags=["templates"])
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def _version(v: PromptTemplateVersion) -> VersionOut:
    return VersionOut(version=v.version, type=v.type, jinja=v.jinja, answer_choices=v.answer_choices,
                      reference=v.reference, metadata=v.meta, few_shot=v.few_shot, created_at=v.created_at)


def template_out(session: Session, t: PromptTemplate) -> TemplateOut:
    return TemplateOut(id=t.id, task=t.task, name=t.name, idx=t.idx, uid=t.uid, version=t.version,
                       current=_version(service.current(session, t)), versions=[v.version for v in t.versions])


def _parse(model, raw: bytes):
    try:
        return model.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"The body is not valid JSON: {exc}", details=[{"field": "body", "message": str(exc)}]
                               ) from exc
    except ValidationError as exc:
        details = pydantic_details(exc.errors())
        raise ValidationFailed("; ".join(f"{d['field']}: {d['message']}" for d in details), details=details) from exc


@router.post("/projects/{slug}/templates", status_code=201,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": TemplateCreate.model_json_schema()},
                 "application/yaml": {"schema": {"type": "string"},
                                      "description": "A promptsource templates.yaml (all its templates)."}}}})
async def create_template(slug: str, request: Request, session: SessionDep, user: AdminUser,
                          task: Annotated[str | None, Query(max_length=200, description="YAML: the task (default: "
                                                            "the file's dataset[/subset])")] = None,
                          type: Annotated[TemplateTypeName, Query(description="YAML: the templates' type")]
                          = "zero-shot") -> dict:
    """A template (JSON) → {"id", "version"}, or every template of a promptsource YAML file →
    {"templates": [{"id", "version", "name", "task", "status"}]}. 422 when it does not compile, lacks '|||',
    or reaches outside its record (private attributes, includes, fields the task's records do not have)."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    raw = await request.body()
    if content_type in YAML_TYPES:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationFailed("The YAML is not UTF-8 text.", details=[{"field": "body", "message": str(exc)}]
                                   ) from exc
        results = service.import_yaml(session, project_slug=slug, text=text, task=task, type=type, user=user)
        return {"templates": [TemplateCreated(id=t.id, version=t.version, name=t.name, task=t.task,
                                              status=status).model_dump() for t, status in results]}
    template = service.create_template(session, project_slug=slug, data=_parse(TemplateCreate, raw), user=user)
    return TemplateCreated(id=template.id, version=template.version, name=template.name,
                           task=template.task).model_dump()


@router.get("/projects/{slug}/templates", response_model=list[TemplateOut])
def list_templates(slug: str, session: SessionDep, _user: ReviewerUser,
                   task: Annotated[str | None, Query(max_length=200)] = None) -> list[TemplateOut]:
    return [template_out(session, t) for t in service.list_templates(session, project_slug=slug, task=task)]


@router.get("/projects/{slug}/templates/export", response_class=Response,
            responses={200: {"content": {"application/yaml": {}}}})
def export_templates(slug: str, session: SessionDep, _user: ReviewerUser,
                     task: Annotated[str, Query(min_length=1, max_length=200)]) -> Response:
    """The task's templates (current versions) as a promptsource templates.yaml."""
    text = service.export_yaml(session, project_slug=slug, task=task)
    name = task.replace("/", "_")
    return Response(text, media_type="application/yaml",
                    headers={"Content-Disposition": f'attachment; filename="{name}-templates.yaml"'})


@router.post("/projects/{slug}/templates/preview", response_model=PreviewOut)
def preview(slug: str, data: PreviewRequest, session: SessionDep, _user: AdminUser) -> PreviewOut:
    """Render a draft on five stored records of the task; problems (syntax, a missing '|||', an undefined field)
    and per-record errors come back, nothing is saved."""
    return service.preview(session, project_slug=slug, data=data)


@router.post("/projects/{slug}/templates/presets", status_code=201, response_model=list[TemplateCreated])
def add_preset(slug: str, data: PresetCreate, session: SessionDep, user: AdminUser) -> list[TemplateCreated]:
    """Add ready-made templates to a task: "cot" gives Flan-style chain-of-thought templates and their inversions."""
    templates = service.add_preset(session, project_slug=slug, task=data.task, preset=data.preset, user=user)
    return [TemplateCreated(id=t.id, version=t.version, name=t.name, task=t.task) for t in templates]


@router.get("/templates/{template_id}", response_model=TemplateOut)
def get_template(template_id: RowId, session: SessionDep, _user: ReviewerUser) -> TemplateOut:
    return template_out(session, service.get_template(session, template_id))


@router.get("/templates/{template_id}/versions/{version}", response_model=VersionOut)
def get_version(template_id: RowId, version: RowId, session: SessionDep, _user: ReviewerUser) -> VersionOut:
    template = service.get_template(session, template_id)
    found = next((v for v in template.versions if v.version == version), None)
    if found is None:
        raise NotFound(f"Template {template_id} has no version {version}.")
    return _version(found)


@router.put("/templates/{template_id}", response_model=TemplateCreated)
async def update_template(template_id: RowId, request: Request, session: SessionDep, user: AdminUser
                          ) -> TemplateCreated:
    """Edit a template: a new version when anything changed (status "updated"), else "unchanged"."""
    data = _parse(TemplateUpdate, await request.body())
    template, changed = service.update_template(session, template_id=template_id, data=data, user=user)
    return TemplateCreated(id=template.id, version=template.version, name=template.name, task=template.task,
                           status="updated" if changed else "unchanged")
