"""Health: the database answers a query, and a ping task makes the round trip through broker and worker."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.queue import send_task
from app.models import WorkerPing

PING_TASK = "tuneloop.system.ping"
_cache: dict[str, tuple[float, str]] = {}
CACHE_S = 10.0  # a healthy broker is not re-checked more often than this; failures are re-checked at once


@dataclass
class Health:
    database: str = "ok"
    broker: str = "ok"
    details: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.database == "ok" and self.broker == "ok"


def check_database(session: Session) -> str:
    try:
        session.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # any driver error means "down"; the message says why
        session.rollback()
        return f"unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def check_broker(session_factory) -> str:
    """Send a ping task and wait for the worker's answer row. Cached for a few seconds when healthy."""
    cached = _cache.get("broker")
    if cached and time.monotonic() - cached[0] < CACHE_S:
        return cached[1]
    nonce = secrets.token_hex(16)
    try:
        send_task(PING_TASK, nonce)
    except Exception as exc:
        return f"unavailable: cannot publish to the broker ({type(exc).__name__}: {str(exc)[:200]})"
    timeout_s = get_settings().health_worker_timeout_s
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with session_factory() as session:
                answered = session.scalar(select(WorkerPing.nonce).where(WorkerPing.nonce == nonce))
        except Exception as exc:  # the database went away mid-check: report it, do not raise a generic 503
            return f"unknown: cannot read the worker's answer ({type(exc).__name__})"
        if answered:
            _cache["broker"] = (time.monotonic(), "ok")
            return "ok"
        time.sleep(0.05)
    return f"unavailable: the broker took the ping but no worker answered within {timeout_s:g} s"


def reset_cache() -> None:
    _cache.clear()
