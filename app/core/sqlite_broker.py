"""The embedded broker: kombu's SQLAlchemy transport on SQLite, tuned for one machine.

kombu hands every transport option to create_engine, so options meant for the channel (polling interval,
visibility timeout) must be taken out first; SQLite also needs WAL and a busy timeout so the web
(producer) and the worker (consumer) do not trip over each other's locks.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as _Channel
from kombu.transport.sqlalchemy import Transport as _Transport
from sqlalchemy import create_engine, event

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
