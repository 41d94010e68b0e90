"""The embedded broker: kombu's SQLAlchemy transport on SQLite, tuned for one machine.

kombu hands every transport option to create_engine, so options meant for the channel (polling interval,
visibility timeout) must be taken out first; SQLite also needs WAL and a busy timeout so the web
(producer) and the worker (consumer) do not trip over each other's locks.

Several processes may open a new broker file at the same moment (the web sending its first task while the
worker declares its queues). kombu's own table and queue-row creation assume one process: two processes both
find no table (or no queue row) and both create it, and the loser's publish fails after the web has already
committed. The channel below creates the tables under SQLite's write lock and, when another process inserts
the same queue row first, reads that row back instead of failing.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import _MUTEX
from kombu.transport.sqlalchemy import Channel as _Channel
from kombu.transport.sqlalchemy import Transport as _Transport
from kombu.transport.sqlalchemy.models import metadata
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

CHANNEL_ONLY_OPTIONS = ("polling_interval", "visibility_timeout", "queue_tablename", "message_tablename",
                        "callback", "errback", "max_retries", "interval_start", "interval_step",
                        "interval_max", "retry_errors")


class Channel(_Channel):
    def _engine_from_config(self):
        conninfo = self.connection.client
        options = {k: v for k, v in conninfo.transport_options.items() if k not in CHANNEL_ONLY_OPTIONS}
        url = conninfo.hostname
        if url.startswith("sqlite"):
            options.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **options)
        if url.startswith("sqlite"):
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def _open(self):
        # kombu's _open, with the tables created by _create_tables (safe against other processes).
        url = self.connection.client.hostname
        if url not in self._engines:
            with _MUTEX:
                if url not in self._engines:
                    engine = self._engine_from_config()
                    _create_tables(engine)
                    self._engines[url] = engine, sessionmaker(bind=engine)
        return self._engines[url]

    def _find_queue(self, queue: str):
        return self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).first()

    def _get_or_create(self, queue: str):
        # kombu's version catches only OperationalError, so a queue row inserted by another process between
        # the read and the commit raises IntegrityError out of the publish; on OperationalError it hands back
        # a row that was never stored.
        obj = self._find_queue(queue)
        if obj is not None:
            return obj
        with _MUTEX:
            obj = self._find_queue(queue)
            if obj is not None:
                return obj
            obj = self.queue_cls(queue)
            self.session.add(obj)
            try:
                self.session.commit()
            except IntegrityError:
                # Another process created it first; the rollback ends our transaction, so the read below
                # runs in a fresh one and sees that process's committed row.
                self.session.rollback()
                obj = self._find_queue(queue)
                if obj is None:
                    raise
            except BaseException:
                self.session.rollback()
                raise
        return obj


def _create_tables(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        metadata.create_all(engine)
        return
    # SQLite's DDL is transactional: checking for the tables and creating them under the write lock
    # (BEGIN IMMEDIATE waits on the busy timeout) lets exactly one process create them; the others then
    # find them. Without it both processes see no table and the second CREATE TABLE fails.
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        metadata.create_all(conn)
        conn.commit()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Transport(_Transport):
    Channel = Channel


def register() -> None:
    TRANSPORT_ALIASES["sqla"] = "app.core.sqlite_broker:Transport"
    TRANSPORT_ALIASES["sqlalchemy"] = "app.core.sqlite_broker:Transport"
