"""REST: source datasets of a project (raw records for templates), uploaded as JSON or as a file."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.core.bounds import MAX_ID
from app.core.db import SessionDep
from app.core.errors import ValidationFailed, pydantic_details
from app.datasets import service
from app.datasets.schemas import DatasetCreate, DatasetCreated, DatasetOut, RecordPage
from app.users.deps import AdminUser, ReviewerUser

router = APIRouter(prefix="/api/v1", tags=["datasets"])


def _created(d) -> DatasetCreated:
    return DatasetCreated(name=d.name, rows=d.rows, task=d.task, source=d.source, fields=d.fields)


@router.post("/projects/{slug}/datasets", status_code=201, response_model=DatasetCreated,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": DatasetCreate.model_json_schema()},
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file", "name", "task", "source"],
                                                    "properties": {"file": {"type": "string", "format": "binary"},
                                                                   "name": {"type": "string"},
                                                                   "task": {"type": "string"},
                                                                   "source": {"type": "string"}}}}}}})
async def create_dataset(slug: str, request: Request, session: SessionDep, user: AdminUser) -> DatasetCreated:
    """Store raw records as a named dataset of a task and source: JSON {"name", "task", "source", "records"} or a
    multipart upload (file: .jsonl, .json, .csv or .parquet). All or nothing; 422 lists the bad rows."""
    if (request.headers.get("content-type") or "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ValidationFailed("Send the records as a 'file' field.", details=[{"field": "file",
                                                                                    "message": "missing"}])
        fields = {k: str(form.get(k) or "") for k in ("name", "task", "source")}
        dataset = await run_in_threadpool(service.import_upload, session, project_slug=slug, stream=upload.file,
                                          file_name=upload.filename or "upload", user=user, **fields)
        return _created(dataset)
    try:
        data = DatasetCreate.model_validate(orjson.loads(await request.body()))
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"The body is not valid JSON: {exc}", details=[{"field": "body", "message": str(exc)}]
                               ) from exc
    except ValidationError as exc:
        details = pydantic_details(exc.errors())
        raise ValidationFailed("; ".join(f"{d['field']}: {d['message']}" for d in details), details=details) from exc
    dataset = await run_in_threadpool(
        service.create_dataset, session, project_slug=slug, name=data.name, task=data.task, source=data.source,
        rows=service.records_of(data.records), user=user)
    return _created(dataset)


@router.get("/projects/{slug}/datasets", response_model=list[DatasetOut])
def list_datasets(slug: str, session: SessionDep, _user: ReviewerUser) -> list[DatasetOut]:
    """The project's datasets with their task, source, row count and field types."""
    return [DatasetOut.of(d) for d in service.list_datasets(session, service.get_project(session, slug))]


@router.get("/projects/{slug}/datasets/{name}", response_model=DatasetOut)
def get_dataset(slug: str, name: str, session: SessionDep, _user: ReviewerUser) -> DatasetOut:
    return DatasetOut.of(service.get_dataset(session, service.get_project(session, slug), name))


@router.get("/projects/{slug}/datasets/{name}/records", response_model=RecordPage)
def records(slug: str, name: str, session: SessionDep, _user: ReviewerUser,
            offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
            limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> RecordPage:
    """Records in their original order, exactly as stored."""
    dataset = service.get_dataset(session, service.get_project(session, slug), name)
    found = service.records_between(session, dataset.id, offset, offset + limit)
    return RecordPage(records=[found[p] for p in sorted(found)], offset=offset, total=dataset.rows)


@router.delete("/projects/{slug}/datasets/{name}", status_code=204)
def delete_dataset(slug: str, name: str, session: SessionDep, _user: AdminUser) -> Response:
    service.delete_dataset(session, service.get_dataset(session, service.get_project(session, slug), name))
    return Response(status_code=204)
