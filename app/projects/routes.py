"""REST: /api/v1/projects."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.db import SessionDep
from app.projects import service
from app.projects.schemas import ProjectCreate, ProjectList, ProjectOut, ProjectUpdate
from app.users.deps import AdminUser, CurrentUser

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


@router.post("", status_code=201, response_model=ProjectOut)
def create_project(body: ProjectCreate, session: SessionDep, user: AdminUser) -> ProjectOut:
    """Create a project (admin). The slug is derived from the name when absent; 409 if it is taken."""
    return service.create_and_describe(session, data=body, by=user)


@router.get("", response_model=ProjectList)
def list_projects(session: SessionDep, user: CurrentUser) -> ProjectList:
    """Every project with its instruction counts by status."""
    return ProjectList(items=service.list_projects(session))


@router.get("/{slug}", response_model=ProjectOut)
def get_project(slug: str, session: SessionDep, user: CurrentUser) -> ProjectOut:
    """One project with its instruction counts by status."""
    return service.project_out(session, slug=slug)


@router.patch("/{slug}", response_model=ProjectOut)
def update_project(slug: str, body: ProjectUpdate, session: SessionDep, user: AdminUser) -> ProjectOut:
    """Change the name, guidelines or settings (admin); settings keys merge over the current ones."""
    return service.update_and_describe(session, slug=slug, data=body)
