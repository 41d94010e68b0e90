"""The worker's Celery app: the shared app from app.core.queue plus our task modules."""

from __future__ import annotations

from celery.signals import worker_process_init

from app.core.queue import get_celery

TASK_MODULES = ["worker.tasks.system", "worker.tasks.exports"]

celery_app = get_celery()
celery_app.conf.include = TASK_MODULES
for module in TASK_MODULES:
    __import__(module)


@worker_process_init.connect
def _fresh_engine(**_kwargs) -> None:
    # A forked child must not share the parent's database connections.
    from app.core.db import get_engine

    get_engine().dispose(close=False)
