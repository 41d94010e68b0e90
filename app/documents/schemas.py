"""REST shapes of document collections (API.md: "Data sources for the methods")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from app.models import Document, Passage


class DocumentOut(BaseModel):
    id: int
    name: str
    title: str
    format: str
    licence: str
    passages: int
    chars: int
    size_bytes: int
    split_settings: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, d: Document) -> DocumentOut:
        return cls(id=d.id, name=d.name, title=d.title, format=d.format, licence=d.licence,
                   passages=d.passage_count, chars=d.chars, size_bytes=d.size_bytes,
                   split_settings=d.split_settings or {}, created_at=d.created_at)


class StoredDocument(BaseModel):
    id: int
    name: str
    title: str
    format: str
    licence: str
    passages: int
    chars: int


class RefusedDocument(BaseModel):
    name: str
    code: str
    message: str


class UploadResult(BaseModel):
    """What was stored, and each document that was not (with a reason code) when some were."""

    documents: list[StoredDocument]
    errors: list[RefusedDocument] = []


class PassageOut(BaseModel):
    id: int
    text: str
    position: int
    key: str
    heading: str
    document_id: int

    @classmethod
    def of(cls, p: Passage) -> PassageOut:
        return cls(id=p.id, text=p.text, position=p.position, key=p.key, heading=p.heading,
                   document_id=p.document_id)


class SearchHit(BaseModel):
    passage_id: int
    document_id: int
    document: str
    position: int
    heading: str
    text: str
    rank: float


class DeleteResult(BaseModel):
    deleted: int
    items_marked: int
