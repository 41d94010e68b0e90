"""import_file: stream a file, turn rows into items, validate them like the API, upsert in batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.curation.importing import ImportRules
from app.curation.rules import QualityRules
from app.imports import files, readers
from app.imports.files import ImportFailed
from app.imports.predictions import prediction_items
from app.instructions.ingest import TARGET, upsert_items
from app.instructions.schemas import adapters
from app.instructions.validation import control_char_details, friendly
from app.models import Project

BATCH = 1000
Progress = Callable[[int, int | None], None]


@dataclass
class ImportResult:
    path: str
    format: str
    rows: int = 0
    items: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: dict[str, int] | None = None  # by reason code, when quality rules were applied
    quality_job_id: int | None = None


class _Batcher:
    """Validates and writes (line, item) pairs a batch at a time, keeping the counts."""

    def __init__(self, session: Session, project: Project, label: str, result: ImportResult,
                 import_job_id: int | None, rules: ImportRules | None = None) -> None:
        settings = get_settings()
        self.session, self.project, self.label, self.result = session, project, label, result
        self.import_job_id = import_job_id
        self.adapter = adapters(settings.max_text_chars, settings.max_candidates, importing=True)["item"]
        self.pending: list[tuple[int, dict]] = []
        self.seen_ids: dict[str, int] = {}
        self.rules = rules
        # Comparison data may bring the same prompt on several lines: their candidates join one instruction.
        self.merge_repeats = False
        self.pending_by_id: dict[str, dict] = {}

    def add(self, line: int, item: dict) -> None:
        if self.rules is not None and TARGET not in item:
            kept = self.rules.apply(line, item)
            if kept is None:
                return
            item = kept
        ext = item.get("external_id")
        if ext is not None and TARGET not in item:
            if self.merge_repeats and ext in self.pending_by_id:
                self.pending_by_id[ext].setdefault("candidates", []).extend(item.get("candidates") or [])
                return
            if self.merge_repeats:
                self.pending_by_id[ext] = item  # a repeat after a flush is upserted, and its candidates merged
            elif ext in self.seen_ids:
                raise ImportFailed(f"{self.label}:{line}: external_id {readers.short(ext)} appears again "
                                   f"(first at line {self.seen_ids[ext]})")
            self.seen_ids[ext] = line
        self.pending.append((line, item))
        if len(self.pending) >= BATCH:
            self.flush()

    def _validated(self, line: int, item: dict) -> dict:
        target = item.pop(TARGET, None)
        if item.get("external_id") is None:
            item.pop("external_id", None)
        try:
            valid = self.adapter.validate_python(item)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"]) or "row"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise ImportFailed(f"{self.label}:{line}: {field}: {friendly(err)}{more}") from exc
        bad = control_char_details([valid])
        if bad:
            field = bad[0]["field"].removeprefix("items[0].")  # a metadata key may be long: show its start
            field = field if len(field) <= 80 else field[:80] + "..."
            raise ImportFailed(f"{self.label}:{line}: {field}: {bad[0]['message']}")
        if target is not None:
            valid[TARGET] = target
        return valid

    def flush(self) -> None:
        if not self.pending:
            return
        items = [self._validated(line, item) for line, item in self.pending]
        done = upsert_items(self.session, project=self.project, items=items, import_job_id=self.import_job_id)
        self.result.items += len(items)
        self.result.created += done.created
        self.result.updated += done.updated
        self.result.unchanged += done.unchanged
        self.pending = []
        self.pending_by_id = {}


def import_file(session: Session, *, project: Project | str, path: str | Path, fmt: str = "auto",
                progress: Progress | None = None, name: str | None = None,
                import_job_id: int | None = None, quality: QualityRules | None = None) -> ImportResult:
    """Import every row of a .json/.jsonl/.jsonl.gz file into `project` (or its slug); flushes, never commits.

    `name` is what the user called the file (an upload's own name, the path they typed); it names the
    model of a predictions file and the source of the rows, and every message quotes it. The command line
    and the admin page's job both come through here: without a name, the path is the name. Rows and
    candidates the import creates carry `import_job_id` when an admin job runs it (so it can be undone).

    Raises ImportFailed naming the file and line of the first bad row (NotFound for an unknown slug);
    the caller's rollback then leaves the project as it was. `progress(done_rows, total_rows_or_None)`
    is called every 200 rows.
    """
    if isinstance(project, str):
        from app.projects.service import get_project

        project = get_project(session, slug=project)
    if fmt not in readers.FORMATS:
        raise ImportFailed(f"unknown format {fmt!r}; choose from {', '.join(readers.FORMATS)}")
    path = Path(path)
    label = name or str(path)
    if not path.is_file():
        raise ImportFailed(f"{label}: no such file")
    result = ImportResult(path=label, format=fmt)
    total = files.count_rows(path, label)
    rules = ImportRules(quality) if quality is not None else None
    batcher = _Batcher(session, project, label, result, import_job_id, rules)
    reader: Callable[[Any, str], list[dict]] | None = None
    predictions: list[tuple[int, Any]] | None = None
    source = model = files.base_name(label)
    if progress:
        progress(0, total)
    for line, row in files.rows(path, label):
        if reader is None and predictions is None:
            kind = fmt
            if fmt == "auto":
                try:
                    kind = readers.detect(row)
                except ValueError as exc:
                    raise ImportFailed(f"{label}:{line}: {exc}") from exc
            result.format = kind
            if (kind == "self-instruct" and readers.is_prediction(row)) or kind == "answers":
                predictions = []
            elif kind == "comparison":
                batcher.merge_repeats = True
                reader = readers.READERS[kind]
            else:
                reader = readers.READERS[kind]
        result.rows += 1
        if predictions is not None:
            if result.format == "answers":
                try:
                    row = readers.answer_row(row)
                except ValueError as exc:
                    raise ImportFailed(f"{label}:{line}: {exc}") from exc
            predictions.append((line, row))
            if len(predictions) >= BATCH:
                _flush_predictions(session, project, label, model, predictions, batcher)
                predictions = []
        else:
            try:
                made = reader(row, source)  # type: ignore[misc]
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise ImportFailed(f"{label}:{line}: {exc}") from exc
            for item in made:
                batcher.add(line, item)
        if progress and result.rows % 200 == 0:
            progress(result.rows, total)
    if predictions:
        _flush_predictions(session, project, label, model, predictions, batcher)
    batcher.flush()
    if rules is not None:
        job = rules.record(session, project=project, source=Path(label.replace("\\", "/")).name)
        result.refused, result.quality_job_id = dict(job.reasons or {}), job.id
    if progress:
        progress(result.rows, total if total is not None else result.rows)
    return result


def _flush_predictions(session: Session, project: Project, label: str, model: str,
                       batch: list[tuple[int, Any]], batcher: _Batcher) -> None:
    batcher.flush()  # rows before these must be visible to the join
    try:
        joined = prediction_items(session, project=project, batch=batch, model=model)
    except ValueError as exc:
        raise ImportFailed(f"{label}:{exc}") from exc
    for line, item in joined:
        batcher.add(line, item)
    batcher.flush()
