"""The Celery app as seen from the web: a producer that sends tasks by name, after the commit."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery
from kombu import Queue
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.config import get_settings

DEFAULT_QUEUE = "default"
TRAINING_QUEUE = "training"
# A visibility timeout longer than any training run: a run must never be redelivered while alive.
VISIBILITY_TIMEOUT_S = 7 * 24 * 3600


def make_celery(broker_url: str | None = None) -> Celery:
    settings = get_settings()
    broker = broker_url or settings.broker_url
    app = Celery("tuneloop", broker=broker)
    app.conf.update(
        task_default_queue=DEFAULT_QUEUE,
        task_queues=[Queue(DEFAULT_QUEUE), Queue(TRAINING_QUEUE)],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        # State lives in our own tables; Celery's result backend would be a second, weaker truth.
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        worker_hijack_root_logger=False,
        timezone="UTC",
    )
    if broker.startswith("sqla+"):
        from app.core.sqlite_broker import register

        register()
        # The SQLAlchemy transport polls; a short interval keeps the embedded worker responsive.
        app.conf.broker_transport_options = {"polling_interval": 0.2}
    return app


@lru_cache
def get_celery() -> Celery:
    return make_celery()


def send_task(name: str, *args: Any, queue: str = DEFAULT_QUEUE) -> None:
    get_celery().send_task(name, args=list(args), queue=queue)


def enqueue_after_commit(session: Session, name: str, *args: Any, queue: str = DEFAULT_QUEUE) -> None:
    """Send the task once the session's transaction commits, so the worker always finds the rows."""

    def _send(_session: Session) -> None:
        send_task(name, *args, queue=queue)

    event.listen(session, "after_commit", _send, once=True)
