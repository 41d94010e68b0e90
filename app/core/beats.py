"""A job's heartbeat from a thread: a live job must never look dead to its reaper, whatever it is doing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from app.core.db import session_scope

log = logging.getLogger("tuneloop.beats")


@contextmanager
def beating(name: str, every_s: float, beat: Callable[[Session], None]) -> Iterator[None]:
    """Call `beat` in its own committed session every `every_s` seconds while the block runs.

    A thread, because the work itself has phases that report nothing (counting, hashing, a batch write, a
    validation subprocess). A missed beat is logged, not fatal: the next one may get through."""
    stop = threading.Event()

    def _loop() -> None:
        while not stop.wait(every_s):
            try:
                with session_scope() as session:
                    beat(session)
            except Exception:
                log.warning("%s: heartbeat failed", name, exc_info=True)

    thread = threading.Thread(target=_loop, name=f"{name} heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s * 2)
