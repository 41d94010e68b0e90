"""Reliability fixtures: a small world of real rows and one HTTP client per kind of caller."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import csrf_from, login

PASSWORD = "correct horse battery"  # the conftest login() default
# Every kind of caller the access matrix and the fuzzers act as.
CALLERS = ("anonymous", "annotator", "reviewer", "annotator_token", "admin_token", "admin_session")
CALLER_ROLE = {"anonymous": None, "annotator": "annotator", "reviewer": "reviewer", "annotator_token": "annotator",
               "admin_token": "admin", "admin_session": "admin"}


def assert_error_shape(resp, status: int | None = None) -> dict[str, Any]:
    """The API.md error shape: {"error": {"code", "message", "details"}}, with a message a person can read."""
    assert resp.headers.get("content-type", "").startswith("application/json"), (
        f"{resp.request.method} {resp.request.url.path} answered {resp.status_code} "
        f"with {resp.headers.get('content-type')!r}, not JSON: {resp.text[:300]}")
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err.get("code"), str) and err["code"], body
    assert isinstance(err.get("message"), str) and err["message"].strip(), body
    assert isinstance(err.get("details", []), list), body
    if status is not None:
        assert resp.status_code == status, (resp.status_code, body)
    return err


@dataclass
class Caller:
    """One client acting as one kind of caller; cookies are restored before every request."""

    name: str
    client: TestClient
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str | None = None
    login_email: str | None = None  # signs in through the real form on first use

    def request(self, method: str, url: str, **kwargs):
        if self.login_email and not self.cookies:
            login(self.client, self.login_email)
            self.csrf = csrf_from(self.client)
            self.cookies = dict(self.client.cookies.items())
        # A logout or a failed check must not change who the next request is made as.
        self.client.cookies.clear()
        for key, value in self.cookies.items():
            self.client.cookies.set(key, value)
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if self.csrf and method not in ("GET", "HEAD", "OPTIONS"):
            headers["X-CSRFToken"] = self.csrf
        return self.client.request(method, url, headers=headers, follow_redirects=False, **kwargs)


@dataclass
class World:
    """Real rows to fill path parameters with, and the users every caller acts as."""

    users: dict[str, Any]
    project: Any
    instruction: Any
    candidates: list[Any]
    spare_user: Any
    spare_token: Any
    callers: dict[str, Caller]
    # Path parameter values, by parameter name, that point at real rows (taken before any call deletes one).
    path_values: dict[str, Any] = field(default_factory=dict)


def add_project(db, *, slug: str | None = None, n_instructions: int = 1):
    """A project with instructions and two candidates each, written as the ingest would store them."""
    from app.models import Candidate, Instruction, Project

    slug = slug or f"rel-{secrets.token_hex(4)}"
    project = Project(name=f"Reliability {slug}", slug=slug, guidelines="Be *kind*.")
    db.add(project)
    db.flush()
    rows = []
    for i in range(n_instructions):
        text = f"Explain item {i} of {slug}."
        inst = Instruction(project_id=project.id, external_id=f"ext-{i}", instruction=text,
                           content_hash=hashlib.sha256(text.encode()).hexdigest())
        inst.candidates = [Candidate(text=f"Answer A to {i}", model="m1"), Candidate(text=f"Answer B to {i}",
                                                                                      model="m2")]
        db.add(inst)
        rows.append(inst)
    db.flush()
    return project, rows


@lru_cache
def _password_hash() -> str:
    from app.core.security import hash_password

    return hash_password(PASSWORD)


def quick_user(db, role: str):
    """A user like create_user makes, with the password hash computed once: argon2 is slow on purpose."""
    from app.models import Role, User

    user = User(email=f"{role}-{secrets.token_hex(4)}@example.com", name=role.capitalize(), role=Role(role),
                password_hash=_password_hash())
    db.add(user)
    db.flush()
    return user


@pytest.fixture
def world(app, db, token_for, monkeypatch) -> World:
    from app.core.config import get_settings
    from app.users.service import create_token

    # No worker runs here: health must not wait its full 5 s for a ping answer on every call.
    monkeypatch.setattr(get_settings(), "health_worker_timeout_s", 0.2)
    users = {role: quick_user(db, role) for role in ("annotator", "reviewer", "admin")}
    project, (instruction,) = add_project(db)
    spare_user = quick_user(db, "annotator")
    spare_token = create_token(db, user=spare_user, name="spare").token
    db.flush()
    callers: dict[str, Caller] = {}
    for name in CALLERS:
        caller = Caller(name, TestClient(app, raise_server_exceptions=False))
        role = CALLER_ROLE[name]
        if name.endswith("_token"):
            caller.headers = token_for(users[role])
        elif role is not None:
            caller.login_email = users[role].email
        callers[name] = caller
    from app.models import Annotation

    # The annotator's own draft on the instruction, as the queue would hand it out.
    annotation = Annotation(instruction_id=instruction.id, user_id=users["annotator"].id)
    db.add(annotation)
    db.flush()
    # Released as a savepoint (the test's outer transaction still rolls back): a refused request's rollback
    # must undo only that request, never the world.
    db.commit()
    values = {"slug": project.slug, "project_id": project.id, "instruction_id": instruction.id,
              "candidate_id": instruction.candidates[0].id, "annotation_id": annotation.id,
              "user_id": spare_user.id, "token_id": spare_token.id}
    return World(users, project, instruction, list(instruction.candidates), spare_user, spare_token, callers,
                 values)
