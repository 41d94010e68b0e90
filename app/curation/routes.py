"""REST API for curation: named subsets (API.md: GET /api/v1/projects/{slug}/subsets/{name})."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.db import SessionDep
from app.curation import service
from app.curation.ablation_schemas import AblationCreate, AblationView
from app.curation.schemas import SubsetView
from app.users.deps import AdminUser, ReviewerUser

router = APIRouter(prefix="/api/v1", tags=["curation"])


@router.get("/projects/{slug}/subsets", response_model=list[SubsetView])
def list_subsets(slug: str, session: SessionDep, user: ReviewerUser) -> list[SubsetView]:
    """The project's subsets with their members."""
    return service.subset_views(session, slug=slug)


@router.get("/projects/{slug}/subsets/{name}", response_model=SubsetView)
def get_subset(slug: str, name: str, session: SessionDep, user: ReviewerUser) -> SubsetView:
    """One subset: its name and instruction ids in the order they were admitted."""
    return service.subset_view(session, slug=slug, name=name)


@router.post("/projects/{slug}/ablations", status_code=202, response_model=AblationView)
def create_ablation(slug: str, data: AblationCreate, session: SessionDep, user: AdminUser) -> AblationView:
    """Export, train and evaluate each data choice the same way; GET the ablation for its table."""
    from app.curation import ablations

    ablation = ablations.create(session, slug=slug, data=data, user=user)
    session.flush()
    return service.ablation_view(session, ablation.id)


@router.get("/ablations/{ablation_id}", response_model=AblationView)
def get_ablation(ablation_id: int, session: SessionDep, user: ReviewerUser) -> AblationView:
    """The arms' states and the comparison table (eval loss with 95 % intervals, differences, training cost)."""
    return service.ablation_view(session, ablation_id)
