"""Upsert a validated batch of items into one project: set-based, one lookup, no ORM object per row.

Identity: an item with an `external_id` is that instruction of the project; an item without one is
identified by its content hash (sha256 of the item's canonical JSON). Same hash as stored: "unchanged",
nothing written. Different: the row's fields are replaced and its candidates merged (see `_merge`).
On PostgreSQL a transaction-scoped advisory lock per project serialises concurrent batches of one
project, so overlapping batches count exactly; the unique (project_id, external_id) constraint and
ON CONFLICT DO NOTHING stand behind it. SQLite serialises writers already (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import bindparam, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from app.core.errors import Conflict
from app.instructions import pg_copy
from app.models import Candidate, Instruction, Project
from app.models.base import utcnow

LOCK_NAMESPACE = 0x7475  # "tu": keeps our advisory locks apart from anyone else's
# Set by importers (never by API clients, whose items are validated with extra="forbid") to update a known row.
TARGET = "_target_id"
FIELDS = ("instruction", "input", "system", "history", "split", "source", "metadata")
# Provenance defaults: an item (or candidate) that does not say how it was made was made by people. Left out of
# the hashed item when not given, so every hash stored before provenance existed still matches.
HUMAN = "human"


def made(row: dict[str, Any]) -> str:
    return row.get("construction") or HUMAN


@dataclass
class Upserted:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ids: list[int] = field(default_factory=list)


_ITEM_DEFAULTS: dict[str, Any] = {"external_id": None, "input": "", "system": "", "history": [], "split": "train",
                                  "source": "", "metadata": {}, "candidates": []}


def canonical(item: dict[str, Any], default_origin: str = "imported") -> dict[str, Any]:
    """The item with every default filled in: what is hashed and what is stored.

    Validated items hold only known keys, so merging over the defaults (done in C) is the whole job.
    The shared default list and dict are never mutated.
    """
    row = {**_ITEM_DEFAULTS, **item}
    if row["candidates"]:
        defaults = {"model": "", "score": None, "origin": default_origin}
        row["candidates"] = [{**defaults, **c} for c in row["candidates"]]
    return row


def content_hash(item: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _lock(session: Session, project_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:ns, :pid)"), {"ns": LOCK_NAMESPACE, "pid": project_id})


def _existing(session: Session, project_id: int, items: list[dict], hashes: list[str]) -> dict[Any, tuple]:
    """{external_id or ("hash", h): (id, content_hash)} for rows the batch already has, in two queries at most."""
    ext_ids = [it["external_id"] for it in items if it["external_id"] is not None]
    loose = [h for it, h in zip(items, hashes, strict=True) if it["external_id"] is None]
    found: dict[Any, tuple] = {}
    cols = (Instruction.id, Instruction.external_id, Instruction.content_hash)
    if ext_ids:
        rows = session.execute(select(*cols).where(Instruction.project_id == project_id,
                                                   _in(session, Instruction.external_id, ext_ids)))
        for row_id, ext, h in rows:
            found[ext] = (row_id, h)
    if loose:
        rows = session.execute(select(*cols).where(Instruction.project_id == project_id,
                                                   Instruction.external_id.is_(None),
                                                   _in(session, Instruction.content_hash, sorted(set(loose)))))
        for row_id, _ext, h in rows:
            found.setdefault(("hash", h), (row_id, h))
    return found


def _in(session: Session, column: Any, values: list[Any]) -> Any:
    """column IN values. On PostgreSQL one JSON parameter (serialised by orjson) unnested by the server:
    no thousands of placeholders to render, and no array adapted value by value in Python."""
    if session.get_bind().dialect.name == "postgresql":
        unnested = select(cast(func.jsonb_array_elements_text(bindparam(None, values, type_=JSONB)), column.type))
        return column.in_(unnested)
    return column.in_(values)


def _key(item: dict, h: str) -> Any:
    return item["external_id"] if item["external_id"] is not None else ("hash", h)


def upsert_items(session: Session, *, project: Project, items: list[dict[str, Any]],
                 default_origin: str = "imported", import_job_id: int | None = None) -> Upserted:
    """Create, update or leave alone each validated item; answer counts and ids in item order.

    Instructions and candidates it creates carry `import_job_id` (None outside an admin import job)."""
    targets = [it.get(TARGET) for it in items]
    rows = [canonical(it if t is None else {k: v for k, v in it.items() if k != TARGET}, default_origin)
            for it, t in zip(items, targets, strict=True)]
    hashes = [content_hash(r) for r in rows]
    _lock(session, project.id)
    found = _existing(session, project.id, rows, hashes)
    result = Upserted()
    ids: list[int | None] = [None] * len(rows)
    new: dict[Any, int] = {}  # key -> index of the first item creating it
    changed: list[int] = []
    for i, (row, h) in enumerate(zip(rows, hashes, strict=True)):
        target = targets[i]
        if target is not None:  # the importer already knows the row (a prediction joined to its task)
            ids[i] = target
            changed.append(i)
            continue
        key = _key(row, h)
        hit = found.get(key)
        if hit is None:
            if key in new:  # the same content twice without an external_id: one row
                result.unchanged += 1
            else:
                new[key] = i
        elif hit[1] == h:
            ids[i] = hit[0]
            result.unchanged += 1
        else:
            ids[i] = hit[0]
            changed.append(i)
    if new:
        created = _insert(session, project.id, [(rows[i], hashes[i]) for i in new.values()], import_job_id)
        for key, i in new.items():
            if key not in created:
                raise Conflict("Another request changed these instructions at the same time; send the batch again.")
            ids[i] = created[key]
        result.created = len(new)
        for i, (row, h) in enumerate(zip(rows, hashes, strict=True)):
            if ids[i] is None:
                ids[i] = created[_key(row, h)]
    if changed:
        n_updated = _merge(session, [(ids[i], rows[i], hashes[i]) for i in changed], import_job_id)
        result.updated += n_updated
        result.unchanged += len(changed) - n_updated
    result.ids = [int(i) for i in ids]  # type: ignore[arg-type]
    return result


def _insert(session: Session, project_id: int, batch: list[tuple[dict, str]],
            import_job_id: int | None) -> dict[Any, int]:
    """Insert new instructions and their candidates; {key: new id}."""
    now = utcnow()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return pg_copy.insert_new(conn, project_id, batch, now, key=_key, import_job_id=import_job_id)
    params = [{"project_id": project_id, "external_id": r["external_id"], "instruction": r["instruction"],
               "input": r["input"], "system": r["system"], "history": r["history"], "split": r["split"],
               "source": r["source"], "meta": r["metadata"], "status": "pending", "content_hash": h,
               "construction": made(r), "created_at": now, "updated_at": now, "import_job_id": import_job_id}
              for r, h in batch]
    table = Instruction.__table__
    stmt = (table.insert().prefix_with("OR IGNORE")  # SQLite's ON CONFLICT DO NOTHING
            .returning(table.c.id, table.c.external_id, table.c.content_hash))
    keyed: dict[Any, int] = {}
    for row_id, ext, h in conn.execute(stmt, [_column_params(p) for p in params]):
        keyed[ext if ext is not None else ("hash", h)] = row_id
    cands = [{"instruction_id": keyed[_key(r, h)], "text": c["text"], "model": c["model"], "score": c["score"],
              "origin": c["origin"], "construction": made(c), "created_at": now, "import_job_id": import_job_id}
             for r, h in batch if _key(r, h) in keyed for c in r["candidates"]]
    if cands:
        conn.execute(Candidate.__table__.insert(), cands)
    return keyed


def _column_params(p: dict) -> dict:
    # The mapped attribute is `meta`; the column is "metadata".
    p = dict(p)
    p["metadata"] = p.pop("meta")
    return p


def _merge(session: Session, batch: list[tuple[int, dict, str]], import_job_id: int | None) -> int:
    """Replace changed fields and add new candidates; answer how many rows really changed.

    Candidates are matched by (origin, model, text). A matching one keeps its id (annotations rank
    candidates by id) and takes the new score; a new one is added; one the item no longer lists is
    kept, because rankings and corrections may reference it and other files may have added it.
    """
    ids = [b[0] for b in batch]
    t = Instruction.__table__
    current = {r.id: r for r in session.execute(select(t.c.id, t.c.content_hash, t.c.construction,
                                                       *[t.c[c] for c in FIELDS]).where(_in(session, t.c.id, ids)))}
    cands: dict[int, dict[tuple, tuple[int, float | None]]] = {i: {} for i in ids}
    for cid, iid, origin, model, text_, score in session.execute(
        select(Candidate.id, Candidate.instruction_id, Candidate.origin, Candidate.model, Candidate.text,
               Candidate.score).where(_in(session, Candidate.instruction_id, ids))
    ):
        cands[iid][(str(origin), model, text_)] = (cid, score)
    now = utcnow()
    row_updates, cand_inserts, score_updates = [], [], []
    for row_id, row, h in batch:
        old = current[row_id]
        # A construction the item does not state leaves the stored one as it is (a job may have set it).
        construction = row.get("construction") or old.construction
        fields_changed = any(_value(getattr(old, c)) != row[c] for c in FIELDS) or construction != old.construction
        additions = False
        for c in row["candidates"]:
            hit = cands[row_id].get((c["origin"], c["model"], c["text"]))
            if hit is None:
                cand_inserts.append({"instruction_id": row_id, "text": c["text"], "model": c["model"],
                                     "score": c["score"], "origin": c["origin"], "construction": made(c),
                                     "created_at": now, "import_job_id": import_job_id})
                cands[row_id][(c["origin"], c["model"], c["text"])] = (0, c["score"])
                additions = True
            elif hit[1] != c["score"]:
                score_updates.append({"b_id": hit[0], "score": c["score"]})
                additions = True
        if fields_changed or additions:
            # A row without external_id is known by its hash: it keeps it, or a re-sent original would not match.
            new_hash = h if row["external_id"] is not None else old.content_hash
            row_updates.append({"b_id": row_id, **{c: row[c] for c in FIELDS if c != "metadata"},
                                "meta": row["metadata"], "content_hash": new_hash, "construction": construction,
                                "updated_at": now})
    conn = session.connection()
    if row_updates:
        values = {c: bindparam(c) for c in FIELDS if c != "metadata"}
        stmt = update(t).where(t.c.id == bindparam("b_id")).values(
            **values, metadata=bindparam("meta"), content_hash=bindparam("content_hash"),
            construction=bindparam("construction"), updated_at=bindparam("updated_at"))
        conn.execute(stmt, row_updates)
    if cand_inserts:
        conn.execute(Candidate.__table__.insert(), cand_inserts)
    if score_updates:
        ct = Candidate.__table__
        conn.execute(update(ct).where(ct.c.id == bindparam("b_id")).values(score=bindparam("score")), score_updates)
    return len(row_updates)


def _value(v: Any) -> Any:
    return v.value if hasattr(v, "value") else v
