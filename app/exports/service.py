"""Exports: create (queued, sent after commit), read, claim and finish a run, and reap dead runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import __version__
from app.core.config import get_settings
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.queue import enqueue_after_commit
from app.curation.subsets import find as find_subset
from app.exports.schemas import ExportCreate, ExportOut
from app.exports.snapshot import Result, Spec, remove_temp_dirs
from app.exports.source import count_records, evaluation_only_rows
from app.models import Export, ExportStatus, Project, User
from app.models.base import utcnow

RUN_TASK = "tuneloop.exports.run"
# A running export whose worker wrote no heartbeat for this long is dead (heartbeats come every second).
STALE_AFTER_S = 30.0


def exports_root() -> Path:
    return get_settings().data_dir / "exports"


def get_project(session: Session, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        raise NotFound(f"There is no project '{slug}'.")
    return project


def create_export(session: Session, *, project_slug: str, data: ExportCreate, user: User) -> Export:
    """Queue an export of the project's approved data; the worker is told once the transaction commits."""
    project = get_project(session, project_slug)
    options = data.options()
    subset = options["filters"].get("subset")
    if subset and find_subset(session, project.id, subset) is None:
        raise ValidationFailed(f"Project {project_slug} has no subset '{subset}'.",
                               details=[{"loc": ["filters", "subset"], "field": "filters.subset",
                                         "message": f"no subset named '{subset}' in this project",
                                         "type": "value_error"}])
    if options.get("mixture"):
        _check_mixture(session, project.id, options)  # a mixture leaves evaluation-only rows out in its SQL
    else:
        _refuse_evaluation_only(session, project, options)
        if count_records(session.connection(), project.id, options) == 0:
            raise ValidationFailed(f"No approved instructions in '{project_slug}' match these filters.",
                                   details=[{"loc": ["filters"], "field": "filters",
                                             "message": "matches no approved instruction", "type": "value_error"}])
    for _attempt in range(5):
        version = (session.scalar(select(func.max(Export.version)).where(Export.project_id == project.id)) or 0) + 1
        export = Export(project_id=project.id, version=version, format=data.format, options=options,
                        status=ExportStatus.queued, created_by_id=user.id, created_at=utcnow())
        try:
            with session.begin_nested():  # two exports created at once: the loser takes the next version
                session.add(export)
                session.flush()
            break
        except IntegrityError:
            continue
    else:
        raise Conflict("Could not allocate an export version; try again.")
    enqueue_after_commit(session, RUN_TASK, export.id)
    return export


def _check_mixture(session: Session, project_id: int, options: dict[str, Any]) -> None:
    """Refuse a mixture the stored rows cannot meet (422 naming the source), before it is queued."""
    from app.exports.mixture import make_plan
    from app.flan.mixing import MixtureError

    try:
        make_plan(session.connection(), project_id, options)
    except MixtureError as exc:
        raise ValidationFailed(exc.message, details=exc.details) from exc


# Filters that pick rows by what they are (rather than by split, date or annotator): choosing evaluation-only
# instructions with one of them is asking to train on them, which is refused.
NAMING_FILTERS = ("source", "metadata", "subset", "ids")


def _refuse_evaluation_only(session: Session, project: Project, options: dict[str, Any]) -> None:
    """A training export never holds evaluation-only instructions: without naming filters they are left out (and
    counted in the manifest); filters that select some of them by name refuse the export, listing them."""
    filters = options.get("filters") or {}
    named = [f for f in NAMING_FILTERS if filters.get(f)]
    if not named:
        return
    conn = session.connection()
    total = count_records(conn, project.id, options, evaluation_only=True)
    if not total:
        return
    rows = evaluation_only_rows(conn, project.id, options)
    shown = ", ".join(f"#{r['id']}" + (f" ({r['external_id']})" if r["external_id"] else "") for r in rows[:10])
    more = f" and {total - 10} more" if total > 10 else ""
    raise ValidationFailed(
        f"These filters ({', '.join(named)}) select {total} evaluation-only instruction{'s' * (total != 1)}, which "
        f"no training export may contain: {shown}{more}. Change the filters, or clear the instructions' "
        "evaluation-only mark if they really are training data.",
        details=[{"loc": ["filters", named[0]], "field": f"filters.{named[0]}", "type": "evaluation_only",
                  "message": f"selects {total} evaluation-only instructions", "rows": rows}])


def cli_user(session: Session, *, email: str | None) -> User:
    """The admin a command-line export is recorded under: the one named, or the first admin."""
    from app.models import Role

    stmt = select(User).where(User.role == Role.admin, User.is_active).order_by(User.id)
    if email:
        stmt = stmt.where(User.email == email.lower())
    user = session.scalars(stmt).first()
    if user is None:
        raise NotFound(f"There is no active admin {email!r}." if email else "There is no active admin; create one.")
    return user


def get_export(session: Session, export_id: int) -> Export:
    reap_stale_exports(session)
    export = session.get(Export, export_id)
    if export is None:
        raise NotFound(f"There is no export {export_id}.")
    return export


def list_exports(session: Session, *, project_slug: str | None = None, limit: int = 50) -> list[Export]:
    reap_stale_exports(session)
    stmt = select(Export).order_by(Export.id.desc()).limit(limit)
    if project_slug:
        stmt = stmt.where(Export.project_id == get_project(session, project_slug).id)
    return list(session.scalars(stmt))


def page_data(session: Session) -> dict[str, Any]:
    """What the exports page shows: recent exports, and the projects and users its form offers."""
    return {
        "exports": list_exports(session),
        "projects": list(session.scalars(select(Project).order_by(Project.name))),
        "annotators": list(session.scalars(select(User).where(User.is_active).order_by(User.email))),
    }


def to_out(export: Export) -> ExportOut:
    succeeded = export.status == ExportStatus.succeeded
    return ExportOut(
        id=export.id, project=export.project.slug, version=export.version, format=export.format,
        options=export.options, status=export.status.value, rows_done=export.rows_done,
        rows_total=export.rows_total, row_counts=export.row_counts, files=export.files, sha256=export.sha256,
        error=export.error, path=export.path, created_by_id=export.created_by_id, created_at=export.created_at,
        started_at=export.started_at, finished_at=export.finished_at,
        download_url=f"/api/v1/exports/{export.id}/download" if succeeded else None,
    )


def reap_stale_exports(session: Session, *, stale_after_s: float = STALE_AFTER_S) -> int:
    """Mark running exports whose worker went silent as failed, and sweep their temp folders."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    dead = list(session.scalars(select(Export).where(Export.status == ExportStatus.running,
                                                     Export.heartbeat_at < cutoff)))
    for export in dead:
        fail_export(session, export, f"The worker stopped responding (no heartbeat for {stale_after_s:g} s); "
                                     "nothing was published. Create the export again.")
    return len(dead)


def claim_export(session: Session, export_id: int, *, stale_after_s: float = STALE_AFTER_S) -> Export | None:
    """Take the export for this attempt: queued, or running with a dead heartbeat (a redelivered message).

    Returns None when there is nothing to do (done, failed, or alive in another worker)."""
    export = session.get(Export, export_id, with_for_update=True)
    if export is None:
        return None
    now = utcnow()
    if export.status == ExportStatus.running:
        beat = export.heartbeat_at
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=now.tzinfo)
        if beat is not None and now - beat < timedelta(seconds=stale_after_s):
            return None
        remove_temp_dirs(exports_root(), export.project.slug, export.id)
    elif export.status != ExportStatus.queued:
        return None
    export.status = ExportStatus.running
    export.attempts += 1
    export.started_at = now
    export.heartbeat_at = now
    export.rows_done = 0
    export.error = None
    session.flush()
    return export


def spec_for(export: Export) -> Spec:
    return Spec(export.id, export.project_id, export.project.slug, export.version, export.format, export.options)


def provenance(session: Session, export: Export) -> dict[str, Any]:
    """The manifest's unhashed part: who made it and when."""
    user = session.get(User, export.created_by_id) if export.created_by_id else None
    return {
        "export_id": export.id, "version": export.version, "tuneloop_version": __version__,
        "created_by": {"id": user.id, "email": user.email} if user else None,
        "created_at": export.created_at.isoformat(), "finished_at": utcnow().isoformat(),
    }


def record_progress(session: Session, export_id: int, done: int, total: int) -> None:
    """Progress and heartbeat in one UPDATE (the task commits it at once, so the page sees it)."""
    session.execute(update(Export).where(Export.id == export_id, Export.status == ExportStatus.running)
                    .values(rows_done=done, rows_total=total, heartbeat_at=utcnow()))


def beat(session: Session, export_id: int) -> None:
    """A heartbeat alone, for the phases of a run that have no row progress to report."""
    session.execute(update(Export).where(Export.id == export_id, Export.status == ExportStatus.running)
                    .values(heartbeat_at=utcnow()))


def finish_export(session: Session, export: Export, result: Result) -> None:
    export.status = ExportStatus.succeeded
    export.path = str(result.path)
    export.sha256 = result.sha256
    export.files = result.files
    export.row_counts = result.row_counts
    export.preview = result.preview
    export.rows_done = export.rows_total or export.rows_done
    export.finished_at = utcnow()
    session.flush()


def fail_export(session: Session, export: Export, reason: str) -> None:
    export.status = ExportStatus.failed
    export.error = reason[:2000]
    export.finished_at = utcnow()
    remove_temp_dirs(exports_root(), export.project.slug, export.id)
    session.flush()


def download_path(session: Session, export_id: int, file: str | None) -> tuple[Export, Path]:
    """The snapshot folder, or one of its files; 409 until the export has succeeded."""
    export = get_export(session, export_id)
    if export.status != ExportStatus.succeeded or not export.path:
        raise Conflict(f"Export {export_id} is {export.status.value}; it can be downloaded once it has succeeded.")
    folder = Path(export.path)
    if not folder.is_dir():
        raise NotFound(f"The files of export {export_id} are no longer on disk.")
    if file is None:
        return export, folder
    names = {f["name"] for f in export.files} | {"manifest.json"}
    if file not in names:
        raise NotFound(f"Export {export_id} has no file '{file}'; it has: {', '.join(sorted(names))}.")
    return export, folder / file
