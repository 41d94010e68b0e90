"""Admin pages: users and roles, and API tokens (created and shown once, listed by prefix, revoked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.admin import users_service as service
from app.admin.forms import field_errors
from app.core.bounds import Id, RowId
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import render
from app.models import Role
from app.users.deps import AdminUser

router = APIRouter(prefix="/admin")


def _users_page(request: Request, session, user, *, errors=None, form=None, done: str = "", status_code=200):
    ctx = {"user": user, "nav": "admin", "section": "users", "users": service.list_users(session),
           "roles": [r.value for r in Role], "errors": errors or {}, "form": form or {}, "done": done}
    return render(request, "admin/users.html", ctx, status_code=status_code)


@router.get("/users")
def users_page(request: Request, session: SessionDep, user: AdminUser, done: str = "") -> Response:
    return _users_page(request, session, user, done=done)


@router.post("/users")
def user_create(request: Request, session: SessionDep, user: AdminUser,
                email: Annotated[str, Form(max_length=320)] = "", name: Annotated[str, Form(max_length=200)] = "",
                password: Annotated[str, Form(max_length=1000)] = "",
                role: Annotated[str, Form(max_length=20)] = "annotator") -> Response:
    try:
        service.create_user(session, email=email, name=name, password=password, role=role)
    except AppError as exc:
        errors = field_errors(exc)
        if "form" in errors:
            errors["email"] = errors.pop("form")
        form = {"email": email, "name": name, "role": role}
        return _users_page(request, session, user, errors=errors, form=form, status_code=exc.status_code)
    return RedirectResponse("/admin/users?done=created", status_code=303)


@router.post("/users/{user_id}/role")
def user_role(request: Request, user_id: RowId, session: SessionDep, user: AdminUser,
              role: Annotated[str, Form(max_length=20)]) -> Response:
    try:
        service.change_role(session, user_id=user_id, role=role, by=user)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return _users_page(request, session, user, errors={"list": exc.message}, status_code=exc.status_code)
    return RedirectResponse("/admin/users?done=role", status_code=303)


@router.post("/users/{user_id}/active")
def user_active(request: Request, user_id: RowId, session: SessionDep, user: AdminUser,
                active: Annotated[str, Form(max_length=5)]) -> Response:
    try:
        service.set_active(session, user_id=user_id, active=active == "1", by=user)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return _users_page(request, session, user, errors={"list": exc.message}, status_code=exc.status_code)
    return RedirectResponse("/admin/users?done=" + ("activated" if active == "1" else "deactivated"), status_code=303)


@router.post("/users/{user_id}/password")
def user_password(request: Request, user_id: RowId, session: SessionDep, user: AdminUser,
                  password: Annotated[str, Form(max_length=1000)] = "") -> Response:
    try:
        service.reset_password(session, user_id=user_id, password=password)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        errors = {"reset": exc.message, "reset_user": str(user_id)}
        return _users_page(request, session, user, errors=errors, status_code=exc.status_code)
    return RedirectResponse("/admin/users?done=password", status_code=303)


def _tokens_page(request: Request, session, user, *, issued=None, errors=None, status_code=200, done=""):
    ctx = {"user": user, "nav": "admin", "section": "tokens", "tokens": service.list_tokens(session),
           "users": [u for u in service.list_users(session) if u.is_active], "issued": issued,
           "errors": errors or {}, "done": done}
    return render(request, "admin/tokens.html", ctx, status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/tokens")
def tokens_page(request: Request, session: SessionDep, user: AdminUser, done: str = "") -> Response:
    return _tokens_page(request, session, user, done=done)


@router.post("/tokens")
def token_create(request: Request, session: SessionDep, user: AdminUser, user_id: Annotated[Id, Form()],
                 name: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        issued = service.create_token(session, user_id=user_id, name=name)
    except AppError as exc:
        return _tokens_page(request, session, user, errors=field_errors(exc), status_code=exc.status_code)
    # Rendered, not redirected: the secret exists only in this answer and is never stored.
    return _tokens_page(request, session, user, issued=issued, status_code=201)


@router.post("/tokens/{token_id}/revoke")
def token_revoke(token_id: RowId, session: SessionDep, user: AdminUser) -> Response:
    service.revoke_token(session, token_id=token_id, by=user)
    return RedirectResponse("/admin/tokens?done=revoked", status_code=303)
