"""The response store: a backend's answer kept by request hash, written before the answer is used."""

from __future__ import annotations

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.backends.config import BackendConfig
from app.backends.requests import ModelResponse
from app.core.db import session_scope
from app.models import StoredResponse
from app.models.base import utcnow


def load_stored(hashes: list[str]) -> dict[str, ModelResponse]:
    """The stored answers among `hashes`."""
    with session_scope() as session:
        rows = session.execute(select(StoredResponse.request_hash, StoredResponse.response, StoredResponse.latency_ms)
                               .where(StoredResponse.request_hash.in_(set(hashes))))
        return {digest: ModelResponse.from_json(data, latency) for digest, data, latency in rows}


def store_responses(session: Session, answers: list[tuple[str, BackendConfig, ModelResponse]]) -> None:
    """Keep answers in their own commit; an answer already stored (the same request twice) is left as it was."""
    if not answers:
        return
    now = utcnow()
    rows = [{"request_hash": digest, "backend": config.name, "model": response.model or config.model,
             "response": response.to_json(), "latency_ms": response.latency_ms, "created_at": now}
            for digest, config, response in answers]
    with session.begin():
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(StoredResponse.__table__).on_conflict_do_nothing(index_elements=["request_hash"]),
                        rows)


def relax_durability(connection: Connection) -> None:
    """On PostgreSQL, commit on this connection without waiting for the WAL flush (until restored).

    The engine commits after every batch of answers; waiting for the disk each time would bound a job by fsync
    latency. An asynchronous commit is still atomic and ordered: a crash of the database server (not of a
    worker) can only lose the last fraction of a second of commits, as a whole, and their items are then
    pending again and asked once more. A worker's crash loses nothing that was committed."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET synchronous_commit TO OFF"))


def restore_durability(connection: Connection) -> None:
    """Before the connection goes back to the pool, where others expect the default."""
    if connection.dialect.name == "postgresql" and not connection.closed:
        connection.rollback()
        connection.execute(text("RESET synchronous_commit"))
        connection.commit()
