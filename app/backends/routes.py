"""REST API for backends: /api/v1/backends (API.md, "Wave 2"); admin only, and no secret in any answer."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.backends import service
from app.backends.schemas import BackendCreate, BackendList, BackendOut, BackendTestResult, BackendUpdate
from app.core.db import SessionDep
from app.users.deps import AdminUser

router = APIRouter(prefix="/api/v1/backends", tags=["backends"])


@router.post("", status_code=201, response_model=BackendOut)
def create_backend(body: BackendCreate, session: SessionDep, user: AdminUser) -> BackendOut:
    """Add a backend. The API key is never sent: name the environment variable holding it as api_key_env."""
    return service.backend_out(service.create_backend(session, data=body, by=user))


@router.get("", response_model=BackendList)
def list_backends(session: SessionDep, user: AdminUser) -> BackendList:
    """Every backend with its limits and what its last test found."""
    return BackendList(items=[service.backend_out(row) for row in service.list_backends(session)])


@router.get("/{name}", response_model=BackendOut)
def get_backend(name: str, session: SessionDep, user: AdminUser) -> BackendOut:
    return service.backend_out(service.get_backend(session, name))


@router.patch("/{name}", response_model=BackendOut)
def update_backend(name: str, body: BackendUpdate, session: SessionDep, user: AdminUser) -> BackendOut:
    """Change the URL, model, adapter, key variable or limits; limit fields not sent keep their values."""
    return service.backend_out(service.update_backend(session, name=name, data=body))


@router.delete("/{name}", status_code=204)
def delete_backend(name: str, session: SessionDep, user: AdminUser) -> Response:
    """Delete a backend; 409 naming the jobs while an active job uses it."""
    service.delete_backend(session, name=name)
    return Response(status_code=204)


@router.post("/{name}/test", response_model=BackendTestResult)
def test_backend(name: str, session: SessionDep, user: AdminUser) -> BackendTestResult:
    """Send a few tiny requests: latency, the model's answer, and what it supports (chat, raw completions,
    logprobs, JSON-schema output). The result is kept as the backend's last_test."""
    return service.probe_backend(session, name=name)
