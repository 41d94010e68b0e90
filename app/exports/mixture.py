"""Mixture exports: a Flan-style recipe sampled in the database over the project's stored template rows.

Two passes over the rows, both in SQL: one GROUP BY counts rows per (source, task, prompt setting, inverted)
cell, from which `app.flan.mixing` plans how many each cell gives; then one query numbers each cell's rows in a
seeded pseudo-random order (a window function) and keeps the first n of each, joined back for their texts and
streamed in that order (a shuffle). Python holds the cell counts and one batch of rows, never the table.

The order is an integer hash of (row id, seed) written in plain arithmetic, so SQLite and PostgreSQL draw the
same rows for the same seed, and `row_hash` below computes it in Python for the tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Text,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.curation.leakage import not_leaking
from app.curation.subsets import in_subset
from app.exports.formats import Record, builder
from app.exports.source import _raw_cursor
from app.flan.mixing import Cell, MixtureError, Recipe, plan, report
from app.instructions.selection import metadata_equals
from app.models import (
    Approval,
    Candidate,
    CandidateOrigin,
    Construction,
    Instruction,
    InstructionStatus,
    LeakageFlag,
    Split,
)

P = 2147483647  # 2**31 - 1: every product below stays under 2**63 on both databases
SEP = "\x1f"
BATCH = 2000


def row_hash(row_id: int, seed: int) -> int:
    a = ((row_id % P) * 48271 + (seed % P) * 16807 + 12345) % P
    b = (a * 69621) % P
    c = (b | (b >> 11)) - (b & (b >> 11))  # b XOR (b >> 11): SQLite has no XOR operator
    return (c * 40692) % P


def _hash_sql(row_id: Any, seed: int) -> Any:
    a = ((cast(row_id, BigInteger) % P) * 48271 + (seed % P) * 16807 + 12345) % P
    b = (a * 69621) % P
    shifted = b.op(">>")(literal_column("11"))  # PostgreSQL shifts a bigint by an integer only
    c = b.op("|")(shifted) - b.op("&")(shifted)
    return (c * 40692) % P


def _fields() -> tuple[Any, Any, Any, Any]:
    meta = Instruction.meta
    source, task = meta["_task_source"].as_string(), meta["_task_name"].as_string()
    setting = func.coalesce(meta["_template_type"].as_string(), "")
    inverted = case((meta["_template_kind"].as_string() == "inverted", "1"), else_="0")
    return source, task, setting, inverted


def _conditions(project_id: int, options: dict[str, Any], *, leakage: bool = True) -> list[Any]:
    recipe = options["mixture"]
    filters = options.get("filters") or {}
    splits = set(filters.get("split") or [Split.train.value, Split.eval.value])
    splits = splits | {Split.holdout.value} if options.get("include_holdout") else splits - {Split.holdout.value}
    reference = exists().where(Candidate.instruction_id == Instruction.id,
                               Candidate.origin == CandidateOrigin.reference)
    # Rows without _task_source or _task_name get a NULL cell key, dropped by _keyed's caller (reading the
    # metadata once a row, not once more here).
    # Never in a training file: evaluation-only instructions, and items whose source document was deleted.
    conds = [Instruction.project_id == project_id, Instruction.split.in_(sorted(splits)),
             Instruction.evaluation_only.is_(False), Instruction.source_deleted_at.is_(None)]
    if recipe.get("reviewed_only"):
        conds.append(Instruction.status == InstructionStatus.approved)
    else:
        conds += [Instruction.status != InstructionStatus.rejected,
                  (Instruction.status == InstructionStatus.approved) | reference]
    if filters.get("source"):
        conds.append(Instruction.source.in_(filters["source"]))
    if filters.get("construction"):
        conds.append(Instruction.construction.in_(filters["construction"]))
    conds += [metadata_equals(k, v) for k, v in sorted((filters.get("metadata") or {}).items())]
    if filters.get("subset"):
        conds.append(in_subset(project_id, filters["subset"], Instruction.id))
    # Never train on a near-duplicate of an evaluation item (curation's leakage check flags them).
    if leakage:
        conds.append(or_(Instruction.split != Split.train.value, not_leaking(Instruction.id)))
    return conds


def _keyed(project_id: int, options: dict[str, Any]) -> Any:
    """(id, cell key) of every row the mixture may draw: the metadata is read once a row."""
    source, task, setting, inverted = _fields()
    key = source + SEP + task + SEP + setting + SEP + inverted
    return select(Instruction.id.label("id"), key.label("k")).where(*_conditions(project_id, options)).subquery("b")


def cell_counts(conn: Connection, project_id: int, options: dict[str, Any]) -> dict[Cell, int]:
    keyed = _keyed(project_id, options)
    stmt = select(keyed.c.k, func.count()).where(keyed.c.k.isnot(None)).group_by(keyed.c.k)
    return {Cell.of_key(k): n for k, n in conn.execute(stmt)}


def make_plan(conn: Connection, project_id: int, options: dict[str, Any]) -> tuple[dict[Cell, int], dict[Cell, int]]:
    """(stored rows per cell, rows to draw per cell); MixtureError when the recipe cannot be met."""
    counts = cell_counts(conn, project_id, options)
    if not counts:
        raise MixtureError("The project has no rows with _task_source and _task_name metadata to mix (render "
                           "templates first, or push rows carrying them).",
                           [{"field": "mixture", "message": "no template rows"}])
    return counts, plan(counts, Recipe.of(options["mixture"]))


def _quota_table(quotas: dict[Cell, int]) -> Any:
    """The plan as a small table (cell key, rows) from one JSON parameter, for PostgreSQL to hash-join."""
    payload = literal(orjson.dumps({cell.key: n for cell, n in quotas.items()}).decode())
    each = func.jsonb_each_text(cast(payload, JSONB)).table_valued("key", "value").alias("e")
    return select(each.c.key.label("key"), cast(each.c.value, Integer).label("n")).cte("q")


QUOTA_FUNCTION = "tuneloop_mixture_quota"


def _selection(conn: Connection, project_id: int, options: dict[str, Any], quotas: dict[Cell, int]) -> Any:
    seed = int(options["mixture"]["seed"])
    keyed = _keyed(project_id, options)
    order = _hash_sql(keyed.c.id, seed)
    numbered = select(keyed.c.id, keyed.c.k, order.label("h"),
                      func.row_number().over(partition_by=keyed.c.k, order_by=(order, keyed.c.id)).label("rn")
                      ).where(keyed.c.k.isnot(None)).subquery("r")
    if conn.dialect.name == "postgresql":
        quota = _quota_table(quotas)
        chosen = (select(numbered.c.id, numbered.c.k, numbered.c.h)
                  .join(quota, quota.c.key == numbered.c.k).where(numbered.c.rn <= quota.c.n).subquery("sel"))
    else:
        # SQLite joins a JSON table by scanning it once a row; a lookup function is one dict access instead.
        by_key = {cell.key: n for cell, n in quotas.items()}
        conn.connection.dbapi_connection.create_function(QUOTA_FUNCTION, 1, lambda k: by_key.get(k, 0),
                                                         deterministic=True)
        chosen = (select(numbered.c.id, numbered.c.k, numbered.c.h)
                  .where(numbered.c.rn <= getattr(func, QUOTA_FUNCTION)(numbered.c.k)).subquery("sel"))
    reference = (select(Candidate.text).where(Candidate.instruction_id == Instruction.id,
                                              Candidate.origin == CandidateOrigin.reference)
                 .order_by(Candidate.id).limit(1).scalar_subquery())
    response = func.coalesce(Approval.final_response, reference)
    return (select(Instruction.id, Instruction.instruction, Instruction.input, Instruction.system,
                   cast(Instruction.history, Text), Instruction.split, chosen.c.k, response, Instruction.construction)
            .select_from(chosen).join(Instruction, Instruction.id == chosen.c.id)
            .outerjoin(Approval, Approval.instruction_id == Instruction.id)
            .order_by(chosen.c.h, chosen.c.id))


class MixtureRun:
    """One export's mixture: planned on creation, drawn by `batches()`, described by `report()`."""

    def __init__(self, conn: Connection, project_id: int, options: dict[str, Any]) -> None:
        self.conn, self.project_id, self.options = conn, project_id, options
        self.counts, self.quotas = make_plan(conn, project_id, options)
        self.total = sum(self.quotas.values())
        self.realised: Counter[Cell] = Counter()
        self.drawn_construction: Counter[str] = Counter()
        # Evaluation-only rows of the project carrying Flan metadata: left out, and counted in the manifest.
        self.evaluation_only = conn.execute(select(func.count()).where(
            Instruction.project_id == project_id, Instruction.evaluation_only.is_(True),
            Instruction.meta["_task_source"].as_string().isnot(None))).scalar_one()
        # Training rows left out as near-duplicates of evaluation items: few flags, so driven from the flags.
        flagged = select(LeakageFlag.instruction_id).distinct().subquery()
        self.leakage_excluded = conn.execute(
            select(func.count()).select_from(Instruction).join(flagged, flagged.c.instruction_id == Instruction.id)
            .where(*_conditions(project_id, options, leakage=False), Instruction.split == Split.train.value,
                   Instruction.meta["_task_source"].as_string().isnot(None),
                   Instruction.meta["_task_name"].as_string().isnot(None))).scalar_one()

    def batches(self, fmt: str) -> Iterator[list[tuple[int, str, list[dict[str, Any]]]]]:
        """(instruction id, stored split, rows) per drawn row, a batch at a time, in the drawn (shuffled) order."""
        if self.conn.dialect.name == "postgresql":
            # The window sorts narrow tuples of every candidate row: room to do it in memory, off the disk.
            self.conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
            self.conn.exec_driver_sql("SET LOCAL jit = off")
        build, loads = builder(fmt, self.options), orjson.loads
        cursor = _raw_cursor(self.conn, _selection(self.conn, self.project_id, self.options, self.quotas), BATCH)
        try:
            while part := cursor.fetchmany(BATCH):
                out = []
                for iid, instruction, input_, system, history, split, key, response, construction in part:
                    self.realised[Cell.of_key(key)] += 1
                    self.drawn_construction[construction] += 1
                    record = Record(iid, iid, instruction, input_ or "", system or "",
                                    loads(history) if history and history != "[]" else [], split, response or "",
                                    None, [], False, [])
                    out.append((iid, split, build(record, {}, "plain")))
                yield out
        finally:
            cursor.close()

    def construction(self) -> dict[str, Any]:
        """The drawn rows by construction method (instructions; their responses are references or approvals)."""
        return {"instructions": {m.value: self.drawn_construction.get(m.value, 0) for m in Construction}}

    def report(self) -> dict[str, Any]:
        recipe = self.options["mixture"]
        return {"recipe": recipe, "planned": self.total,
                "realised": report(dict(self.realised), self.counts, Recipe.of(recipe))}
