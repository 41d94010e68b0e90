"""The worker's Celery app: the shared app from app.core.queue plus our task modules."""

from __future__ import annotations

import os
import signal
import threading
import time

from celery.signals import worker_init, worker_process_init

from app.core.queue import get_celery

TASK_MODULES = ["worker.tasks.system", "worker.tasks.exports", "worker.tasks.tuning", "worker.tasks.imports",
                "worker.tasks.jobs", "worker.tasks.documents", "worker.tasks.ablations"]

celery_app = get_celery()
celery_app.conf.include = TASK_MODULES
for module in TASK_MODULES:
    __import__(module)


@worker_process_init.connect
def _fresh_engine(**_kwargs) -> None:
    # A forked child must not share the parent's database connections.
    from app.core.db import get_engine

    get_engine().dispose(close=False)


@worker_init.connect
def _exit_with_embedding_server(**_kwargs) -> None:
    # `tuneloop serve` starts workers as children; if the server dies without stopping them (kill -9),
    # they must not live on as orphans holding the SQLite broker.
    parent = os.environ.get("TUNELOOP_EMBEDDED_PARENT_PID")
    if not parent:
        return

    def _watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=_watch, name="parent-watchdog", daemon=True).start()
