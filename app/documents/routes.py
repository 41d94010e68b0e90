"""REST: upload documents into a project's collection, list them, read passages, search, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from app.core.db import SessionDep
from app.core.errors import ValidationFailed, pydantic_details
from app.documents import embeddings, search, service
from app.documents.schemas import DeleteResult, DocumentOut, PassageOut, SearchHit, UploadResult
from app.documents.split import SplitSettings
from app.users.deps import AdminUser, ReviewerUser

router = APIRouter(prefix="/api/v1", tags=["documents"])


def split_settings(max_chars: int | None, overlap: int | None, by_heading: bool | None) -> SplitSettings:
    values = {k: v for k, v in {"max_chars": max_chars, "overlap": overlap, "by_heading": by_heading}.items()
              if v is not None}
    try:
        return SplitSettings.model_validate(values)
    except ValidationError as exc:
        details = pydantic_details(exc.errors())
        raise ValidationFailed("The split settings are not valid: " + "; ".join(
            f"{d['field'] or 'overlap'}: {d['message']}" for d in details), details=details) from exc


@router.post("/projects/{slug}/documents", status_code=201, response_model=UploadResult,
             responses={409: {"description": "every document was a duplicate"},
                        413: {"description": "a file over the size limit"},
                        422: {"description": "no document could be stored; one error per document"}})
def upload_documents(slug: str, session: SessionDep, user: AdminUser,
                     files: Annotated[list[UploadFile], File(description="Text, Markdown, HTML, PDF or JSONL")],
                     licence: Annotated[str, Form(max_length=200)] = "",
                     format: Annotated[str, Form(max_length=20)] = "auto",
                     max_chars: Annotated[int | None, Form()] = None,
                     overlap: Annotated[int | None, Form()] = None,
                     by_heading: Annotated[bool | None, Form()] = None) -> JSONResponse:
    """Store each file's documents (JSONL: one per line), split into passages; duplicates and bad files are
    reported per document. 201 when at least one was stored."""
    outcomes = service.ingest_uploads(session, project_slug=slug, uploads=[(f.filename or "upload", f.file)
                                                                           for f in files],
                                      fmt=format, licence=licence, user=user,
                                      settings=split_settings(max_chars, overlap, by_heading))
    body = {"documents": [o.as_json() for o in outcomes if o.document],
            "errors": [o.as_json() for o in outcomes if not o.document]}
    return JSONResponse(UploadResult.model_validate(body).model_dump(), status_code=201)


@router.get("/projects/{slug}/documents", response_model=list[DocumentOut])
def list_documents(slug: str, session: SessionDep, user: ReviewerUser) -> list[DocumentOut]:
    return [DocumentOut.of(d) for d in service.list_documents(session, service.get_project(session, slug))]


@router.get("/projects/{slug}/passages/search", response_model=list[SearchHit])
def search_passages(slug: str, session: SessionDep, user: ReviewerUser,
                    q: Annotated[str, Query(min_length=1, max_length=500)],
                    limit: Annotated[int, Query(ge=1, le=200)] = 20,
                    mode: Literal["text", "semantic"] = "text") -> list[SearchHit]:
    """Passages holding every word of `q`, best first (BM25 on SQLite, ts_rank on PostgreSQL); or, with
    mode=semantic, the passages nearest in meaning (needs TUNELOOP_EMBEDDING_MODEL_DIR and a worker)."""
    project = service.get_project(session, slug)
    hits = embeddings.nearest(session, project.id, embeddings.query_vector(q), limit=limit) \
        if mode == "semantic" else search.search(session, project.id, q, limit=limit)
    return [SearchHit(**h.as_json()) for h in hits]


@router.get("/documents/{document_id}", response_model=DocumentOut)
def get_document(document_id: int, session: SessionDep, user: ReviewerUser) -> DocumentOut:
    return DocumentOut.of(service.get_document(session, document_id))


@router.get("/documents/{document_id}/passages", response_model=list[PassageOut])
def list_passages(document_id: int, session: SessionDep, user: ReviewerUser,
                  after: Annotated[int, Query(ge=-1, le=2**31)] = -1,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[PassageOut]:
    """The document's passages in order; `after` (a position) pages on."""
    return [PassageOut.of(p) for p in service.passages(session, document_id, after=after, limit=limit)]


@router.delete("/documents/{document_id}", response_model=DeleteResult)
def delete_document(document_id: int, session: SessionDep, user: AdminUser) -> DeleteResult:
    """Delete the document and its passages; instructions built from it are marked and left out of exports."""
    return DeleteResult(deleted=document_id, items_marked=service.delete_document(session, document_id))
