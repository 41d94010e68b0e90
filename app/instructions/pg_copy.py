"""PostgreSQL's fast path for new rows: ids drawn from the sequence in one query, rows sent with COPY."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from psycopg import errors as pg_errors
from sqlalchemy import Connection

from app.core.errors import Conflict

INSTRUCTION_COLUMNS = ("id, project_id, external_id, instruction, input, system, history, split, source, "
                       "metadata, status, content_hash, created_at, updated_at, import_job_id, construction")
CANDIDATE_COLUMNS = "instruction_id, text, model, score, origin, created_at, import_job_id, construction"


def _json(value: Any) -> str:
    if not value:  # most rows: no history, no metadata
        return "[]" if isinstance(value, list) else "{}"
    return orjson.dumps(value).decode()


def insert_new(conn: Connection, project_id: int, batch: list[tuple[dict, str]], now: datetime,
               key: Callable[[dict, str], Any], import_job_id: int | None = None) -> dict[Any, int]:
    """COPY the new instructions and their candidates; {key: new id}. Callers hold the project's lock."""
    raw = conn.connection.driver_connection
    stamp = now.isoformat()  # one string for every row, not a datetime adapted per row
    with raw.cursor() as cur:
        # Ids first, so candidates can point at their instruction without a RETURNING round trip per row.
        cur.execute("SELECT nextval(pg_get_serial_sequence('instructions', 'id')) FROM generate_series(1, %s)",
                    (len(batch),))
        ids = [r[0] for r in cur.fetchall()]
        try:
            with cur.copy(f"COPY instructions ({INSTRUCTION_COLUMNS}) FROM STDIN") as copy:
                for row_id, (r, h) in zip(ids, batch, strict=True):
                    copy.write_row((row_id, project_id, r["external_id"], r["instruction"], r["input"], r["system"],
                                    _json(r["history"]), r["split"], r["source"], _json(r["metadata"]), "pending",
                                    h, stamp, stamp, import_job_id, r.get("construction") or "human"))
            if any(r["candidates"] for r, _ in batch):
                with cur.copy(f"COPY candidates ({CANDIDATE_COLUMNS}) FROM STDIN") as copy:
                    for row_id, (r, _h) in zip(ids, batch, strict=True):
                        for c in r["candidates"]:
                            copy.write_row((row_id, c["text"], c["model"], c["score"], c["origin"], stamp,
                                            import_job_id, c.get("construction") or "human"))
        except pg_errors.UniqueViolation as exc:
            raise Conflict("Another request created some of these instructions at the same time; "
                           "send the batch again.") from exc
    return {key(r, h): row_id for row_id, (r, h) in zip(ids, batch, strict=True)}
