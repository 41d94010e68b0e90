"""The rows to export, streamed from the database in instruction-id order with flat memory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Text,
    any_,
    bindparam,
    cast,
    create_engine,
    event,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.pool import NullPool

from app.curation.leakage import not_leaking
from app.curation.subsets import in_subset
from app.exports.formats import Record
from app.instructions.selection import metadata_equals
from app.models import Annotation, AnnotationStatus, Approval, Candidate, Instruction, Split

BATCH_ROWS = 2000  # rows per fetch from the server-side cursor, and per candidate lookup


def read_engine(engine: Engine) -> Engine:
    """An engine for the long read. On SQLite a plain deferred BEGIN: a WAL snapshot without the write lock
    (the app's engine begins IMMEDIATE, which would block every writer, our own progress updates included)."""
    if engine.dialect.name != "sqlite":
        return engine
    return _sqlite_reader(engine.url.render_as_string(hide_password=False))


@lru_cache
def _sqlite_reader(url: str) -> Engine:
    eng = create_engine(url, poolclass=NullPool, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(eng, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA query_only=ON")

    @event.listens_for(eng, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN")

    return eng


def approval_conditions(project_id: int, options: dict[str, Any], dialect: str = "", *,
                        evaluation_only: bool = False, leakage: bool = True) -> list[Any]:
    """WHERE clauses for the export's filters; the holdout, evaluation-only and leakage rules are applied here, in
    SQL, once. `evaluation_only`: select the evaluation-only instructions the filters match instead (to count or
    name them). `leakage=False` leaves the leakage rule out, to count what it removes."""
    filters = options.get("filters") or {}
    # On SQLite "+ 0" keeps the planner off the (project_id, id) index, so it walks approvals in
    # instruction-id order instead of sorting the whole result in a temp B-tree. PostgreSQL merge-joins the
    # two unique indexes in that order by itself (and would misjudge the row count of "+ 0" and sort).
    project = Approval.project_id + 0 if dialect == "sqlite" else Approval.project_id
    conds: list[Any] = [project == project_id, Approval.instruction_id == Instruction.id,
                        Instruction.evaluation_only.is_(evaluation_only),
                        # Items whose source document was deleted are marked, and never exported again.
                        Instruction.source_deleted_at.is_(None)]
    splits = set(filters.get("split") or [Split.train.value, Split.eval.value])
    if options.get("include_holdout"):
        splits.add(Split.holdout.value)
    else:
        splits.discard(Split.holdout.value)
    conds.append(Instruction.split.in_(sorted(splits)))
    if filters.get("source"):
        conds.append(Instruction.source.in_(filters["source"]))
    if filters.get("construction"):
        conds.append(Instruction.construction.in_(filters["construction"]))
    conds += [metadata_equals(key, value) for key, value in sorted((filters.get("metadata") or {}).items())]
    if filters.get("approved_since"):
        from datetime import datetime

        since = datetime.fromisoformat(filters["approved_since"])
        conds.append(Approval.approved_at >= (since if since.tzinfo else since.replace(tzinfo=UTC)))
    if filters.get("subset"):
        conds.append(in_subset(project_id, filters["subset"], Approval.instruction_id))
    # Never train on a near-duplicate of an evaluation item (curation's leakage check flags them).
    if leakage:
        conds.append(or_(Instruction.split != Split.train.value, not_leaking(Approval.instruction_id)))
    if filters.get("annotator_id") is not None:
        conds.append(exists().where(Annotation.instruction_id == Approval.instruction_id,
                                    Annotation.user_id == filters["annotator_id"],
                                    Annotation.status == AnnotationStatus.submitted))
    return conds


def count_records(conn: Connection, project_id: int, options: dict[str, Any], *,
                  evaluation_only: bool = False) -> int:
    stmt = select(func.count()).select_from(Approval, Instruction).where(
        *approval_conditions(project_id, options, conn.dialect.name, evaluation_only=evaluation_only))
    return int(conn.execute(stmt).scalar_one())


def evaluation_only_rows(conn: Connection, project_id: int, options: dict[str, Any],
                         limit: int = 50) -> list[dict[str, Any]]:
    """The evaluation-only instructions the filters match, first ones by id: what a refused export names."""
    stmt = (select(Instruction.id, Instruction.external_id, Instruction.source, Instruction.instruction)
            .select_from(Approval, Instruction)
            .where(*approval_conditions(project_id, options, conn.dialect.name, evaluation_only=True))
            .order_by(Instruction.id).limit(limit))
    return [{"id": r.id, "external_id": r.external_id, "source": r.source, "instruction": r.instruction[:120]}
            for r in conn.execute(stmt)]


def _select(project_id: int, options: dict[str, Any], with_ranking: bool, dialect: str = ""):
    # JSON columns come as text and are parsed with orjson: several times faster than the driver's json.
    cols = [Approval.id, Approval.instruction_id, Instruction.instruction, Instruction.input, Instruction.system,
            cast(Instruction.history, Text), Instruction.split, Approval.final_response,
            Approval.final_candidate_id, Approval.all_bad]
    if with_ranking:
        cols += [cast(Approval.ranking, Text), cast(Approval.rejected_candidate_ids, Text)]
    # Instruction-id order needs no sort (see approval_conditions): rows stream from the first fetch.
    return select(*cols).where(*approval_conditions(project_id, options, dialect)).order_by(Approval.instruction_id)


def iter_batches(conn: Connection, project_id: int, options: dict[str, Any], *, with_candidates: bool,
                 batch_rows: int = BATCH_ROWS) -> Iterator[tuple[list[Record], dict[int, str]]]:
    """Batches of records in instruction-id order, each with the texts of its instructions' candidates."""
    cursor = _raw_cursor(conn, _select(project_id, options, with_candidates, conn.dialect.name), batch_rows)
    loads = orjson.loads
    try:
        while part := cursor.fetchmany(batch_rows):
            if with_candidates:
                records = [Record(r[0], r[1], r[2], r[3] or "", r[4] or "", loads(r[5]) if r[5] != "[]" else [],
                                  r[6], r[7], r[8], loads(r[10]), bool(r[9]), loads(r[11])) for r in part]
                ids = [rec.instruction_id for rec in records]
                found = conn.execute(select(Candidate.id, Candidate.text).where(_among(conn, ids)))
                try:
                    cands = dict(found.cursor.fetchall())
                finally:
                    found.close()  # at once: an unclosed result keeps the driver's buffer until a GC pass
            else:
                records = [Record(r[0], r[1], r[2], r[3] or "", r[4] or "", loads(r[5]) if r[5] != "[]" else [],
                                  r[6], r[7], r[8], [], bool(r[9]), []) for r in part]
                cands = {}
            yield records, cands
    finally:
        cursor.close()


def _among(conn: Connection, ids: list[int]) -> Any:
    """candidates.instruction_id in ids: one array parameter on PostgreSQL (5,000 separate parameters cost
    more to send and parse than the lookup itself), an expanding IN on SQLite."""
    if conn.dialect.name == "postgresql":
        return Candidate.instruction_id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    return Candidate.instruction_id.in_(ids)


def _raw_cursor(conn: Connection, stmt: Any, batch_rows: int) -> Any:
    """A DBAPI cursor over the statement, inside the connection's transaction.

    Every selected column is already a plain value (JSON comes as text), so SQLAlchemy's per-row processing
    would only cost time. On PostgreSQL the cursor is a named (server-side) one: rows arrive in batches.
    sqlite3 cursors step through the result lazily by themselves."""
    if conn.dialect.name == "postgresql":
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        # Our bound values (ints, strings, datetimes, JSON keys) need no SQLAlchemy processing for psycopg.
        cursor = conn.connection.dbapi_connection.cursor(name="tuneloop_export")
        cursor.itersize = batch_rows
        cursor.execute(str(compiled), compiled.construct_params())
        return cursor
    return conn.execute(stmt).cursor
