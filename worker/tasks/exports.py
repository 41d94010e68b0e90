"""The export task: claim the row, stream the snapshot into place, record success or the reason it failed."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import shutil
import sys

from app.core.beats import beating
from app.core.db import get_engine
from app.core.queue import get_celery
from app.exports import service
from app.exports.snapshot import ExportFailed, build_snapshot
from app.exports.source import read_engine
from app.models import Export, ExportStatus
from worker.exporting.hf import save_hf
from worker.tasks.db import task_session

log = logging.getLogger("tuneloop.exports")
try:  # glibc keeps freed heap pages mapped; handing them back each second keeps a long export's RSS flat
    _LIBC = ctypes.CDLL("libc.so.6") if sys.platform == "linux" else None
except OSError:
    _LIBC = None
HEARTBEAT_EVERY_S = 5.0  # well inside service.STALE_AFTER_S, also through phases with no row progress


def heartbeat(export_id: int) -> contextlib.AbstractContextManager[None]:
    """Beat for the whole attempt: counting, hashing and the hf layout report no rows."""
    return beating(f"export {export_id}", HEARTBEAT_EVERY_S, lambda s: service.beat(s, export_id))


@get_celery().task(name=service.RUN_TASK)
def run(export_id: int) -> None:
    """Build export `export_id`. Idempotent: a finished, failed or live-elsewhere export is left alone."""
    with task_session() as session:
        export = service.claim_export(session, export_id)
        if export is None:
            log.info("export %s: nothing to do", export_id)
            return
        spec, provenance, attempt = service.spec_for(export), service.provenance(session, export), export.attempts

    def progress(done: int, total: int) -> None:
        with task_session() as s:
            service.record_progress(s, export_id, done, total)
        if _LIBC is not None:
            _LIBC.malloc_trim(0)

    try:
        engine = read_engine(get_engine())
        conn = engine.connect()
        if engine.dialect.name == "postgresql":
            # One consistent view of the data for the whole export, however long it takes.
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with heartbeat(export_id), conn, conn.begin():
            result = build_snapshot(conn, spec, service.exports_root(), provenance=provenance,
                                    on_progress=progress, hf_writer=save_hf)
    except ExportFailed as exc:
        reason = str(exc)
    except Exception as exc:
        log.exception("export %s failed", export_id)
        reason = f"{type(exc).__name__}: {exc}"
    else:
        with task_session() as session:
            export = session.get(Export, export_id)
            if export is not None and export.status == ExportStatus.running and export.attempts == attempt:
                service.finish_export(session, export, result)
                return
            if export is not None and export.status == ExportStatus.succeeded:
                return  # a later attempt published the same folder; it is complete either way
        # Reaped meanwhile: this attempt's folder must not stand for an export the row calls failed.
        log.warning("export %s: attempt %s lost its claim; removing %s", export_id, attempt, result.path)
        shutil.rmtree(result.path, ignore_errors=True)
        return
    with task_session() as session:
        export = session.get(Export, export_id)
        if export is not None and export.status == ExportStatus.running and export.attempts == attempt:
            service.fail_export(session, export, reason)
