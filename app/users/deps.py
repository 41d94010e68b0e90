"""Who is asking: a signed session cookie (browser) or a bearer token (REST), and what they may do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized
from app.models import Role, User
from app.users import service

SESSION_USER_KEY = "uid"


class LoginRequired(Unauthorized):
    """Raised for browser pages; the handler redirects to the login page."""


def optional_user(request: Request, session: SessionDep) -> User | None:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, secret = auth.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("Use 'Authorization: Bearer <token>'.")
        user = service.user_for_token(session, secret.strip())
        if user is None:
            raise Unauthorized("The API token is invalid or revoked.")
        request.state.auth = "token"
        return user
    uid = request.session.get(SESSION_USER_KEY) if "session" in request.scope else None
    if uid is None:
        return None
    user = session.get(User, uid)
    if user is None or not user.is_active or request.session.get("pw") != user.password_hash[-12:]:
        # Deactivated, deleted, or the password changed since this cookie was issued: the session ends.
        request.session.clear()
        return None
    request.state.auth = "session"
    return user


def current_user(request: Request, user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        if request.url.path.startswith("/api/"):
            raise Unauthorized("Sign in or send 'Authorization: Bearer <token>'.")
        raise LoginRequired("Please sign in.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def require_role(role: Role) -> Callable[..., User]:
    """A dependency that lets through users holding `role` or a higher one."""

    def _check(user: CurrentUser) -> User:
        if not user.has_role(role):
            raise Forbidden(f"This needs the {role.value} role; you are {user.role.value}.")
        return user

    return _check


AdminUser = Annotated[User, Depends(require_role(Role.admin))]
ReviewerUser = Annotated[User, Depends(require_role(Role.reviewer))]
