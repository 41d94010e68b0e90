"""System tasks: the health check's round trip."""

from __future__ import annotations

import socket
from datetime import timedelta

from sqlalchemy import delete

from app.core.queue import get_celery
from app.models import WorkerPing
from app.models.base import utcnow
from worker.tasks.db import task_session


@get_celery().task(name="tuneloop.system.ping")
def ping(nonce: str) -> None:
    """Answer a health check: write the nonce so the web can see the round trip completed."""
    with task_session() as session:
        session.add(WorkerPing(nonce=nonce[:64], hostname=socket.gethostname()))
        session.execute(delete(WorkerPing).where(WorkerPing.answered_at < utcnow() - timedelta(hours=1)))
