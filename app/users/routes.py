"""Sign in and out in the browser, and the signed-in home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.core.db import SessionDep
from app.core.templating import render
from app.users import service
from app.users.deps import SESSION_USER_KEY, CurrentUser, OptionalUser
from app.users.ratelimit import login_allowed

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login is a phishing tool.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
def login_page(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "users/login.html", {"next": _safe_next(next), "error": None, "email": ""})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    address = request.client.host if request.client else "unknown"
    if not login_allowed(email, address):
        ctx = {"next": _safe_next(next), "email": email,
               "error": "Too many sign-in attempts. Wait a minute and try again."}
        return render(request, "users/login.html", ctx, status_code=429)
    user = service.authenticate(session, email=email, password=password)
    if user is None:
        ctx = {"next": _safe_next(next), "email": email, "error": "Wrong e-mail or password."}
        return render(request, "users/login.html", ctx, status_code=401)
    request.session.clear()
    request.session[SESSION_USER_KEY] = user.id
    request.session["pw"] = user.password_hash[-12:]
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    from app.annotation.pages import home as projects_home

    return render(request, "users/home.html", {"user": user, **projects_home(session, user=user)})
