"""The curation page: scores with histograms and a live threshold slider, subsets, diversity, construction."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.core.db import SessionDep
from app.core.templating import render
from app.curation import service
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)


@router.get("/projects/{slug}/curation")
def curation_page(slug: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    return render(request, "curation/page.html", {"user": user, "nav": "jobs", **service.overview(session, slug)})
