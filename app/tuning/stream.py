"""Server-sent events for a run: stored events after the client's last id, then new ones as they land."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import orjson
from sqlalchemy.orm import Session
from sse_starlette import ServerSentEvent

from app.models import TuningRun
from app.tuning.present import event_out
from app.tuning.service import list_events

POLL_S = 0.5


def _batch(factory: Callable[[], Session], run_id: int, after: int) -> tuple[list, bool]:
    with factory() as session:
        events = [event_out(e) for e in list_events(session, run_id=run_id, after=after, limit=500)]
        run = session.get(TuningRun, run_id)
        return events, run is None or run.is_terminal


async def run_events(factory: Callable[[], Session], run_id: int, after: int) -> AsyncIterator[ServerSentEvent]:
    """Replay from `after`, then follow; ends once the run is over and every event was sent."""
    last = after
    while True:
        events, over = await anyio.to_thread.run_sync(_batch, factory, run_id, last)
        for event in events:
            last = event.id
            yield ServerSentEvent(data=orjson.dumps(event.model_dump(mode="json")).decode(), event=event.event,
                                  id=str(event.id))
        if over and not events:
            # Tells the page to stop reconnecting: the run has nothing more to say.
            yield ServerSentEvent(data="{}", event="end", id=str(last))
            return
        if not events:
            await anyio.sleep(POLL_S)
