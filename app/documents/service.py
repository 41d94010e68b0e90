"""Document collections: ingest files (each document all or nothing), list, read passages, delete.

A file becomes documents one at a time, each in a savepoint: a bad or duplicate document is reported with a
reason and leaves nothing behind, while the good ones beside it are kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.errors import AppError, NotFound
from app.documents.embeddings import queue_embedding
from app.documents.extract import DocumentRejected, Extracted, extract, format_of
from app.documents.split import SplitSettings, passage_key, split
from app.documents.uploads import human_size
from app.instructions.selection import metadata_equals
from app.models import Document, Instruction, Passage, Project, User
from app.models.base import utcnow

INSERT_CHUNK = 2000


@dataclass
class Outcome:
    """What became of one document (or of a file that gave none): stored, or refused with a code."""

    name: str
    document: Document | None = None
    code: str | None = None
    message: str | None = None
    status: int = 201

    def as_json(self) -> dict[str, Any]:
        if self.document is not None:
            d = self.document
            return {"id": d.id, "name": d.name, "title": d.title, "format": d.format, "licence": d.licence,
                    "passages": d.passage_count, "chars": d.chars}
        return {"name": self.name, "code": self.code, "message": self.message}


def get_project(session: Session, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        raise NotFound(f"Project {slug} does not exist.")
    return project


def ingest_file(session: Session, *, project: Project, name: str, path: Path, fmt: str = "auto", licence: str = "",
                settings: SplitSettings | None = None, user: User | None = None) -> list[Outcome]:
    """The documents in one saved file, each stored or refused on its own; the file is only read here."""
    settings = settings or SplitSettings()
    try:
        limit = get_settings().max_document_bytes
        size = path.stat().st_size
        if size > limit:
            raise DocumentRejected("too_large", f"{name}: {human_size(size)} is over the limit of "
                                   f"{human_size(limit)} for one file; split it into smaller files.", status=413)
        docs = extract(name, path.read_bytes(), format_of(name, fmt))
    except DocumentRejected as exc:
        return [Outcome(name, code=exc.code, message=exc.message, status=exc.status)]
    return [_store(session, project, doc, size if len(docs) == 1 else 0, licence, settings, user) for doc in docs]


def _store(session: Session, project: Project, doc: Extracted, size: int, licence: str, settings: SplitSettings,
           user: User | None) -> Outcome:
    text = doc.canonical()
    digest = hashlib.sha256(text.encode()).hexdigest()
    existing = session.scalar(select(Document).where(Document.project_id == project.id,
                                                     Document.content_hash == digest))
    if existing is not None:
        return Outcome(doc.name, code="duplicate", status=409,
                       message=f"{doc.name}: the same text is already document {existing.id} ('{existing.name}').")
    chunks = split(doc, settings)
    if not chunks:
        return Outcome(doc.name, code="no_text", message=f"{doc.name}: no passage could be made from it.")
    with session.begin_nested():
        document = Document(project_id=project.id, name=doc.name[:500], title=(doc.title or Path(doc.name).stem)[:500],
                            format=doc.format, licence=licence.strip()[:200], content_hash=digest, size_bytes=size,
                            chars=len(text), passage_count=len(chunks), split_settings=settings.model_dump(),
                            created_by_id=user.id if user else None)
        session.add(document)
        session.flush()
        rows = [{"document_id": document.id, "project_id": project.id, "position": c.position,
                 "key": passage_key(digest, c), "heading": c.heading[:500], "text": c.text, "char_start": c.start,
                 "char_end": c.end} for c in chunks]
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(Passage), rows[start:start + INSERT_CHUNK])
    queue_embedding(session, document.id)
    return Outcome(doc.name, document=document)


def list_documents(session: Session, project: Project) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.project_id == project.id)
                                .order_by(Document.id.desc())))


def get_document(session: Session, document_id: int) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound(f"Document {document_id} does not exist.")
    return document


def passages(session: Session, document_id: int, *, after: int = -1, limit: int = 1000) -> list[Passage]:
    """A document's passages in order, from position `after` + 1."""
    get_document(session, document_id)
    return list(session.scalars(select(Passage).where(Passage.document_id == document_id, Passage.position > after)
                                .order_by(Passage.position).limit(limit)))


def delete_document(session: Session, document_id: int) -> int:
    """Delete a document and its passages; instructions built from it are marked (exports leave them out).
    Returns how many instructions were marked."""
    document = get_document(session, document_id)
    marked = session.execute(
        update(Instruction).where(Instruction.project_id == document.project_id,
                                  metadata_equals("document_id", document.id), Instruction.source_deleted_at.is_(None))
        .values(source_deleted_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    session.delete(document)
    session.flush()
    return marked


def collection_counts(session: Session, project: Project) -> dict[str, int]:
    documents, passages_total = session.execute(
        select(func.count(), func.coalesce(func.sum(Document.passage_count), 0))
        .where(Document.project_id == project.id)).one()
    return {"documents": documents, "passages": int(passages_total)}


def ingest_uploads(session: Session, *, project_slug: str, uploads: list[tuple[str, Any]], fmt: str = "auto",
                   licence: str = "", settings: SplitSettings | None = None,
                   user: User | None = None) -> list[Outcome]:
    """Uploaded files (name, binary stream), each streamed to disk under the size limit, then ingested."""
    from app.documents.uploads import staged

    project = get_project(session, project_slug)
    if not uploads:
        raise DocumentsRefused([Outcome("", code="no_file", message="Choose at least one file to upload.",
                                        status=422)])
    outcomes: list[Outcome] = []
    for name, stream in uploads:
        try:
            with staged(name, stream) as path:
                outcomes += ingest_file(session, project=project, name=name, path=path, fmt=fmt, licence=licence,
                                        settings=settings, user=user)
        except DocumentRejected as exc:
            outcomes.append(Outcome(name, code=exc.code, message=exc.message, status=exc.status))
    if not any(o.document for o in outcomes):
        raise DocumentsRefused(outcomes)
    return outcomes


class DocumentsRefused(AppError):
    """No document of the upload could be stored: one error per document, with the status they share."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        statuses = {o.status for o in outcomes}
        self.status_code = statuses.pop() if len(statuses) == 1 else 422
        self.code = {409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type"}.get(
            self.status_code, "validation_error")
        details = [{"field": o.name, "code": o.code, "message": o.message} for o in outcomes]
        message = outcomes[0].message if len(outcomes) == 1 else \
            f"None of the {len(outcomes)} documents was stored: " + " ".join(o.message or "" for o in outcomes)
        super().__init__(message or "Nothing was stored.", details=details)
