"""Generation job input and output shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.core.bounds import MAX_ID, Seed
from app.models import InstructionStatus, Split


class GenerationFilter(BaseModel):
    """Which instructions get new candidates."""

    model_config = ConfigDict(extra="forbid")

    max_candidates: int | None = Field(None, ge=1, le=1000,
                                       description="Only instructions with fewer candidates than this.")
    status: InstructionStatus = InstructionStatus.pending
    split: Split | None = None
    limit: int = Field(100, ge=1, le=5000, description="At most this many instructions, oldest first.")


class GenerationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = Field(..., min_length=1, max_length=100)
    model: Annotated[str, Field(max_length=500)] | Annotated[int, Field(ge=1, le=MAX_ID)] = Field(
        ..., description="A base model (local folder or hub id), or a tuning run's id.")
    filter: GenerationFilter = Field(default_factory=GenerationFilter)
    n: int = Field(1, ge=1, le=16, description="Candidates per instruction.")
    temperature: float = Field(0.8, ge=0, le=5)
    top_p: float = Field(0.95, gt=0, le=1)
    max_new_tokens: int = Field(128, ge=1, le=4096)
    seed: Seed = 0


class GenerationOut(BaseModel):
    id: int = Field(description="The job's id; the job page is /jobs/{id}.")
    project: str
    status: str
    model_name: str
    base_model: str
    run_id: int | None
    backend: str = Field(description="The backend the job asks: run-<id>, or the local backend of the base model.")
    job_url: str
    filter: dict
    params: dict
    progress: dict
    candidates_added: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
