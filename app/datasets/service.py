"""Source datasets: store raw records all or nothing, with field types checked row by row."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.datasets import readers
from app.datasets.readers import BadRow, ReadError, Row
from app.models import Project, SourceDataset, SourceRecord, User

CHUNK = 2000  # records per INSERT
MAX_REPORTED = 50  # bad rows listed in one error
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")  # a dataset's name (a URL segment)
TASK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,199}$")  # tasks may be dataset/subset, as in promptsource


def type_name(value: Any) -> str | None:
    """A value's field type as users read it; None for a missing value (allowed in any field)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "list"
    return "object"


class FieldTypes:
    """Each field's type, fixed by the first row that has a value for it."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.first_row: dict[str, int] = {}

    def check(self, row: int, record: dict[str, Any]) -> list[str]:
        problems = []
        for key, value in record.items():
            kind = type_name(value)
            if kind is None:
                continue
            known = self.types.get(key)
            if known is None:
                self.types[key], self.first_row[key] = kind, row
            elif known != kind:
                problems.append(f"field '{key}' is {kind} here, but {known} in row {self.first_row[key]}")
        return problems


def get_project(session: Session, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        raise NotFound(f"There is no project '{slug}'.")
    return project


def get_dataset(session: Session, project: Project, name: str) -> SourceDataset:
    dataset = session.scalar(select(SourceDataset).where(SourceDataset.project_id == project.id,
                                                         SourceDataset.name == name))
    if dataset is None:
        raise NotFound(f"Project '{project.slug}' has no dataset '{name}'.")
    return dataset


def list_datasets(session: Session, project: Project) -> list[SourceDataset]:
    return list(session.scalars(select(SourceDataset).where(SourceDataset.project_id == project.id)
                                .order_by(SourceDataset.task, SourceDataset.name)))


def _check_names(name: str, task: str, source: str) -> None:
    details = []
    for field, value, rule, chars in (("name", name, NAME, "_ . -"), ("task", task, TASK, "_ . - /")):
        if not rule.match(value or ""):
            details.append({"field": field, "message": f"1 to 200 characters: letters, digits and {chars} "
                                                       "(starting with a letter or digit)"})
    if not (source or "").strip() or len(source) > 100:
        details.append({"field": "source", "message": "the source collection, 1 to 100 characters (e.g. T0, "
                                                      "Flan2021, CoT, NIv2, Dialog)"})
    if details:
        raise ValidationFailed("; ".join(f"{d['field']}: {d['message']}" for d in details), details=details)


def create_dataset(session: Session, *, project_slug: str, name: str, task: str, source: str,
                   rows: Iterable[Row], file_name: str = "", user: User | None = None) -> SourceDataset:
    """Store every record, or none: any bad row (broken, not an object, a field changing type) fails the whole
    import with every bad row listed (up to 50). Only flushes; the caller's commit makes it visible."""
    project = get_project(session, project_slug)
    _check_names(name, task, source)
    if session.scalar(select(SourceDataset.id).where(SourceDataset.project_id == project.id,
                                                     SourceDataset.name == name)):
        raise Conflict(f"Project '{project_slug}' already has a dataset '{name}'; choose another name.")
    dataset = SourceDataset(project_id=project.id, name=name, task=task, source=source.strip(), file_name=file_name,
                            created_by_id=user.id if user else None)
    session.add(dataset)
    session.flush()
    types, bad, count = FieldTypes(), [], 0
    chunk: list[dict[str, Any]] = []
    try:
        for item in rows:
            if isinstance(item, BadRow):
                bad.append({"row": item.row, "message": item.message})
            else:
                number, record = item
                problems = types.check(number, record)
                bad += [{"row": number, "message": p} for p in problems]
                if not bad:
                    chunk.append({"dataset_id": dataset.id, "position": count, "data": record})
                count += 1
            if len(bad) >= MAX_REPORTED:
                break
            if len(chunk) >= CHUNK:
                session.execute(insert(SourceRecord), chunk)
                chunk = []
    except (ReadError, ValueError) as exc:
        raise ValidationFailed(f"Cannot read {file_name or 'the records'}: {exc}",
                               details=[{"field": "file", "message": str(exc)}]) from exc
    if bad:
        more = " (the first 50 problems; there may be more)" if len(bad) >= MAX_REPORTED else ""
        first = "; ".join(f"row {b['row']}: {b['message']}" for b in bad[:3])
        raise ValidationFailed(f"{len(bad)} bad row{'s' * (len(bad) != 1)} in {file_name or 'the records'}{more}, "
                               f"so nothing was stored: {first}",
                               details=[{"field": f"records[{b['row']}]", **b} for b in bad])
    if count == 0:
        raise ValidationFailed(f"{file_name or 'The upload'} holds no records.",
                               details=[{"field": "records", "message": "no records"}])
    if chunk:
        session.execute(insert(SourceRecord), chunk)
    dataset.rows = count
    dataset.fields = types.types
    session.flush()
    return dataset


def records_of(items: list[Any]) -> Iterator[Row]:
    """JSON body records as reader rows (1-based)."""
    for number, obj in enumerate(items, start=1):
        yield (number, obj) if isinstance(obj, dict) else BadRow(number, f"a {type(obj).__name__}, not an object")


def import_path(session: Session, *, project_slug: str, path: Path, name: str, task: str, source: str,
                fmt: str | None = None, split: str | None = None, user: User | None = None) -> SourceDataset:
    try:
        rows = readers.read_path(path, fmt, split)
        return create_dataset(session, project_slug=project_slug, name=name, task=task, source=source, rows=rows,
                              file_name=path.name, user=user)
    except ReadError as exc:
        raise ValidationFailed(str(exc), details=[{"field": "file", "message": str(exc)}]) from exc


def import_upload(session: Session, *, project_slug: str, stream: BinaryIO, file_name: str, name: str, task: str,
                  source: str, user: User | None = None) -> SourceDataset:
    """An uploaded file; Parquet needs seeking, so it is read from the spooled upload as it is."""
    try:
        fmt = readers.detect(file_name)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            def parquet_rows() -> Iterator[Row]:
                yield from readers._arrow_rows(pq.ParquetFile(stream).iter_batches(batch_size=2000))

            rows: Iterable[Row] = parquet_rows()
        else:
            rows = readers.read_stream(stream, fmt, gz=file_name.lower().endswith(".gz"))
        return create_dataset(session, project_slug=project_slug, name=name, task=task, source=source, rows=rows,
                              file_name=file_name, user=user)
    except ReadError as exc:
        raise ValidationFailed(str(exc), details=[{"field": "file", "message": str(exc)}]) from exc


def sample(session: Session, dataset_id: int, n: int = 5) -> list[dict[str, Any]]:
    """The first n records, for previews."""
    return list(session.scalars(select(SourceRecord.data).where(SourceRecord.dataset_id == dataset_id)
                                .order_by(SourceRecord.position).limit(n)))


def records_at(session: Session, dataset_id: int, positions: list[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(positions), 1000):
        part = positions[start:start + 1000]
        out.update(session.execute(select(SourceRecord.position, SourceRecord.data).where(
            SourceRecord.dataset_id == dataset_id, SourceRecord.position.in_(part))).tuples().all())
    return out


def records_between(session: Session, dataset_id: int, start: int, stop: int) -> dict[int, dict[str, Any]]:
    return dict(session.execute(select(SourceRecord.position, SourceRecord.data).where(
        SourceRecord.dataset_id == dataset_id, SourceRecord.position >= start, SourceRecord.position < stop))
        .tuples().all())


def datasets_of_task(session: Session, project_id: int, task: str) -> list[SourceDataset]:
    return list(session.scalars(select(SourceDataset).where(SourceDataset.project_id == project_id,
                                                            SourceDataset.task == task).order_by(SourceDataset.id)))


def delete_dataset(session: Session, dataset: SourceDataset) -> None:
    session.execute(delete(SourceRecord).where(SourceRecord.dataset_id == dataset.id))
    session.delete(dataset)
    session.flush()


def count_records(session: Session, dataset_id: int) -> int:
    return session.scalar(select(func.count()).where(SourceRecord.dataset_id == dataset_id)) or 0
