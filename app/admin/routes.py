"""Every admin page under /admin; the admin role is checked once here for all of them, so none can escape."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse

from app.admin import imports, instructions, projects, users
from app.models import Role
from app.users.deps import require_role

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_role(Role.admin))])


@router.get("/admin")
def admin_home() -> RedirectResponse:
    return RedirectResponse("/admin/projects", status_code=303)


for _sub in (projects.router, users.router, instructions.router, imports.router):
    router.include_router(_sub)
