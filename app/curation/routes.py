"""REST API for curation: named subsets (API.md: GET /api/v1/projects/{slug}/subsets/{name})."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.db import SessionDep
from app.curation import service
from app.curation.schemas import SubsetView
from app.users.deps import ReviewerUser

router = APIRouter(prefix="/api/v1", tags=["curation"])


@router.get("/projects/{slug}/subsets", response_model=list[SubsetView])
def list_subsets(slug: str, session: SessionDep, user: ReviewerUser) -> list[SubsetView]:
    """The project's subsets with their members."""
    return service.subset_views(session, slug=slug)


@router.get("/projects/{slug}/subsets/{name}", response_model=SubsetView)
def get_subset(slug: str, name: str, session: SessionDep, user: ReviewerUser) -> SubsetView:
    """One subset: its name and instruction ids in the order they were admitted."""
    return service.subset_view(session, slug=slug, name=name)
