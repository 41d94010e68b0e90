"""Browser pages: a project's document collection (upload, split settings, search, delete) and one document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import render
from app.documents import embeddings, search, service
from app.documents.routes import split_settings
from app.documents.split import SplitSettings
from app.models import Project
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)
PASSAGES_PAGE = 200


@router.get("/documents")
def collections_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    projects = list(session.scalars(select(Project).order_by(Project.name)))
    counts = {p.id: service.collection_counts(session, p) for p in projects}
    return render(request, "documents/collections.html", {"user": user, "nav": "documents", "projects": projects,
                                                          "counts": counts})


def _collection(request: Request, session: Any, user: Any, slug: str, *, q: str = "", mode: str = "text",
                outcomes=None,
                errors: dict[str, str] | None = None, form: dict[str, Any] | None = None,
                status_code: int = 200, block: str | None = None) -> Response:
    project = service.get_project(session, slug)
    if not q.strip():
        hits = []
    elif mode == "semantic" and embeddings.enabled():
        hits = embeddings.nearest(session, project.id, embeddings.query_vector(q), limit=20)
    else:
        hits = search.search(session, project.id, q, limit=20)
    defaults = SplitSettings().model_dump()
    return render(request, "documents/collection.html", {
        "user": user, "nav": "documents", "project": project, "documents": service.list_documents(session, project),
        "counts": service.collection_counts(session, project), "q": q, "hits": hits, "outcomes": outcomes or [],
        "mode": mode, "semantic": embeddings.enabled(),
        "embedded": embeddings.embedded_count(session, project.id) if embeddings.enabled() else 0,
        "errors": errors or {}, "form": {**{k: str(v).lower() if isinstance(v, bool) else v
                                          for k, v in defaults.items()}, **(form or {})},
        "settings_help": {name: f.description for name, f in SplitSettings.model_fields.items()}},
        block=block, status_code=status_code)


@router.get("/projects/{slug}/documents")
def collection_page(slug: str, request: Request, session: SessionDep, user: AdminUser, q: str = "",
                    mode: str = "text") -> Response:
    """The collection, or (for HTMX) only the search results."""
    return _collection(request, session, user, slug, q=q[:500], mode=mode, block="results")


@router.post("/projects/{slug}/documents")
def upload(slug: str, request: Request, session: SessionDep, user: AdminUser,
           files: Annotated[list[UploadFile] | None, File()] = None,
           licence: Annotated[str, Form(max_length=200)] = "",
           max_chars: Annotated[str, Form(max_length=10)] = "", overlap: Annotated[str, Form(max_length=10)] = "",
           by_heading: Annotated[str, Form(max_length=5)] = "") -> Response:
    form = {"licence": licence, "max_chars": max_chars, "overlap": overlap, "by_heading": by_heading or "false"}
    uploads = [(f.filename, f.file) for f in files or [] if f.filename]
    try:
        settings = split_settings(_int(max_chars, "max_chars"), _int(overlap, "overlap"), by_heading == "on")
        outcomes = service.ingest_uploads(session, project_slug=slug, uploads=uploads, licence=licence,
                                          settings=settings, user=user)
    except service.DocumentsRefused as exc:
        session.rollback()
        refused = [service.Outcome(d["field"], code=d["code"], message=d["message"]) for d in exc.details]
        return _collection(request, session, user, slug, outcomes=refused, form=form, status_code=exc.status_code,
                           errors={"files": exc.message} if not exc.details or not exc.details[0]["field"] else {})
    except AppError as exc:
        session.rollback()
        errors = {str(d.get("field") or "form").split(".")[-1]: d["message"] for d in exc.details} or \
            {"form": exc.message}
        return _collection(request, session, user, slug, form=form, errors=errors, status_code=exc.status_code)
    return _collection(request, session, user, slug, outcomes=outcomes)


def _int(raw: str, field: str) -> int | None:
    if not raw.strip():
        return None
    try:
        return int(raw)
    except ValueError:
        from app.core.errors import ValidationFailed

        problem = [{"field": field, "message": "enter a whole number"}]
        raise ValidationFailed(f"{field}: enter a whole number", details=problem) from None


@router.get("/documents/{document_id}")
def document_page(document_id: int, request: Request, session: SessionDep, user: AdminUser,
                  after: int = -1) -> Response:
    document = service.get_document(session, document_id)
    passages = service.passages(session, document_id, after=max(-1, after), limit=PASSAGES_PAGE)
    return render(request, "documents/document.html", {
        "user": user, "nav": "documents", "document": document, "project": session.get(Project, document.project_id),
        "passages": passages, "next_after": passages[-1].position if len(passages) == PASSAGES_PAGE else None})


@router.post("/documents/{document_id}/delete")
def delete(document_id: int, session: SessionDep, user: AdminUser) -> Response:
    document = service.get_document(session, document_id)
    slug = session.get(Project, document.project_id).slug
    service.delete_document(session, document_id)
    return RedirectResponse(f"/projects/{slug}/documents", status_code=303)
