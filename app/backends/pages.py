"""Admin pages for backends: the list (with a Test button), the add and edit form, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.backends import service
from app.backends.schemas import LABELS, BackendCreate, BackendUpdate
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import is_htmx, render
from app.models import Backend, Role, User
from app.users.deps import AdminUser, require_role

router = APIRouter(prefix="/admin/backends", include_in_schema=False,
                   dependencies=[Depends(require_role(Role.admin))])
LIMIT_FIELDS = ("max_concurrency", "rpm", "tpm", "timeout_s", "max_retries")
TEXT_FIELDS = ("name", "kind", "base_url", "model", "adapter", "api_key_env")


class BackendForm:
    """The form's fields as typed (strings), for both adding and editing."""

    # `name` is also the edit routes' path parameter, so the form's field is read through an alias.
    def __init__(self, new_name: Annotated[str, Form(alias="name", max_length=200)] = "",
                 kind: Annotated[str, Form(max_length=20)] = "openai",
                 base_url: Annotated[str, Form(max_length=1000)] = "",
                 model: Annotated[str, Form(max_length=1000)] = "",
                 adapter: Annotated[str, Form(max_length=1000)] = "",
                 api_key_env: Annotated[str, Form(max_length=1000)] = "",
                 max_concurrency: Annotated[str, Form(max_length=20)] = "",
                 rpm: Annotated[str, Form(max_length=20)] = "", tpm: Annotated[str, Form(max_length=20)] = "",
                 timeout_s: Annotated[str, Form(max_length=20)] = "",
                 max_retries: Annotated[str, Form(max_length=20)] = "") -> None:
        self.values = {"name": new_name.strip(), "kind": kind, "base_url": base_url.strip(), "model": model.strip(),
                       "adapter": adapter.strip(), "api_key_env": api_key_env.strip(),
                       **{f: v.strip() for f, v in zip(LIMIT_FIELDS, (max_concurrency, rpm, tpm, timeout_s,
                                                                      max_retries), strict=True)}}

    def body(self, *, editing: bool) -> dict[str, Any]:
        """The API body: blank limits mean "the default" (or "no limit" for rpm and tpm)."""
        limits = {f: self.values[f] or None for f in LIMIT_FIELDS}
        fields = ("base_url", "model", "adapter", "api_key_env") if editing else TEXT_FIELDS
        return {**{f: self.values[f] for f in fields}, "limits": limits}


def form_values(row: Backend) -> dict[str, Any]:
    limits = row.limits or {}
    return {"name": row.name, "kind": row.kind.value, "base_url": row.base_url, "model": row.model,
            "adapter": row.adapter, "api_key_env": row.api_key_env,
            **{f: "" if limits.get(f) is None else limits[f] for f in LIMIT_FIELDS}}


def _field_errors(exc: ValidationError | AppError) -> dict[str, str]:
    """{input name: message in the words of its label}."""
    if isinstance(exc, AppError):
        return {str(d.get("field") or "form"): exc.message for d in exc.details or [{}]}
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        name = loc[-1] if loc else "form"
        message = err.get("msg", "invalid")
        label = LABELS.get(name)
        if label and not message.startswith(label):
            message = f"{label}: {message[0].lower()}{message[1:]}"
        errors.setdefault(name, message)
    return errors


def _form_page(request: Request, user: User, *, row: Backend | None, values: dict[str, Any],
               errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    errors = errors or {}
    if "api_key_env" in errors:
        values = {**values, "api_key_env": ""}  # what was typed there may be a pasted key: never shown back
    ctx = {"user": user, "nav": "admin", "section": "backends", "backend": row, "form": values, "errors": errors,
           "labels": LABELS}
    return render(request, "backends/form.html", ctx, status_code=status_code)


def _list_page(request: Request, session, user: User, *, done: str = "", error: str = "",
               status_code: int = 200) -> Response:
    ctx = {"user": user, "nav": "admin", "section": "backends", "backends": service.list_backends(session),
           "done": done, "error": error}
    return render(request, "backends/list.html", ctx, status_code=status_code)


@router.get("")
def backends_page(request: Request, session: SessionDep, user: AdminUser, done: str = "") -> Response:
    return _list_page(request, session, user, done=done)


@router.get("/new")
def new_backend_page(request: Request, user: AdminUser) -> Response:
    return _form_page(request, user, row=None, values={"kind": "openai"})


@router.post("/new")
def create_backend(request: Request, session: SessionDep, user: AdminUser,
                   form: Annotated[BackendForm, Depends()]) -> Response:
    try:
        service.create_backend(session, data=BackendCreate.model_validate(form.body(editing=False)), by=user)
    except (ValidationError, AppError) as exc:
        status = exc.status_code if isinstance(exc, AppError) else 422
        return _form_page(request, user, row=None, values=form.values, errors=_field_errors(exc),
                          status_code=status)
    return RedirectResponse("/admin/backends?done=created", status_code=303)


@router.get("/{name}")
def edit_backend_page(name: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    row = service.get_backend(session, name)
    return _form_page(request, user, row=row, values=form_values(row))


@router.post("/{name}")
def update_backend(name: str, request: Request, session: SessionDep, user: AdminUser,
                   form: Annotated[BackendForm, Depends()]) -> Response:
    row = service.get_backend(session, name)
    try:
        service.update_backend(session, name=name, data=BackendUpdate.model_validate(form.body(editing=True)))
    except (ValidationError, AppError) as exc:
        status = exc.status_code if isinstance(exc, AppError) else 422
        values = {**form.values, "name": row.name, "kind": row.kind.value}
        return _form_page(request, user, row=row, values=values, errors=_field_errors(exc), status_code=status)
    return RedirectResponse("/admin/backends?done=saved", status_code=303)


@router.post("/{name}/test")
def test_backend(name: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    """Run the test; HTMX gets the row's result cell, a plain form post the list again."""
    service.probe_backend(session, name=name)
    if not is_htmx(request):
        return RedirectResponse("/admin/backends?done=tested", status_code=303)
    ctx = {"user": user, "b": service.get_backend(session, name)}
    return render(request, "backends/list.html", ctx, block="test_result")


@router.post("/{name}/delete")
def delete_backend(name: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    try:
        service.delete_backend(session, name=name)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return _list_page(request, session, user, error=exc.message, status_code=exc.status_code)
    return RedirectResponse("/admin/backends?done=deleted", status_code=303)
