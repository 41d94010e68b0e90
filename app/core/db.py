"""Engine and sessions. One session per request or task, committed once at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Annotated

from fastapi import Depends
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import get_settings


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        # WAL lets readers run beside the one writer; busy_timeout makes writers queue instead of failing.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own would be DEFERRED).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(conn) -> None:
            # pysqlite's deferred BEGIN lets two writers both read then collide; IMMEDIATE serialises them.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        engine.dialect._json_serializer = _json_dumps
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, json_serializer=_json_dumps, **kwargs)


def _json_dumps(value) -> str:
    import orjson

    return orjson.dumps(value).decode()


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    settings.ensure_dirs()
    return make_engine(settings.database_url)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One session for a request, a task or a thread's unit of work: committed once at the end, rolled back if
    it raises."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def get_session() -> Iterator[Session]:
    """The request's session (a FastAPI dependency): committed once when the route returns."""
    with session_scope() as session:
        yield session


# scope="function": the commit runs before the response is sent, so a client never gets a 2xx for a write
# that then fails to commit, nor reads its own write in a next request before it is committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
