"""Dataset requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models import SourceDataset


class DatasetCreate(BaseModel):
    """POST /api/v1/projects/{slug}/datasets as JSON (a file upload sends the same fields as form fields)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=200, description="The dataset's name in the project.")
    task: str = Field(..., min_length=1, max_length=200, description="The task its records are (templates are "
                                                                     "written per task).")
    source: str = Field(..., min_length=1, max_length=100, description="The source collection: T0, Flan2021, CoT, "
                                                                      "NIv2, Dialog, or your own.")
    records: list[Any] = Field(..., description="Raw records, one JSON object each, kept as they are.")


class DatasetCreated(BaseModel):
    name: str
    rows: int
    task: str
    source: str
    fields: dict[str, str]


class DatasetOut(BaseModel):
    id: int
    name: str
    task: str
    source: str
    rows: int
    fields: dict[str, str]
    file_name: str
    created_at: datetime

    @classmethod
    def of(cls, d: SourceDataset) -> DatasetOut:
        return cls(id=d.id, name=d.name, task=d.task, source=d.source, rows=d.rows, fields=d.fields,
                   file_name=d.file_name, created_at=d.created_at)


class RecordPage(BaseModel):
    records: list[dict[str, Any]]
    offset: int
    total: int
