"""REST: who am I (lets a client check its token)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from app.users.deps import CurrentUser

router = APIRouter(prefix="/api/v1", tags=["users"])


class MeOut(BaseModel):
    id: int
    email: str
    name: str
    role: str


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    """The user the token or session acts as."""
    return MeOut(id=user.id, email=user.email, name=user.name, role=user.role.value)
