"""Server-sent events: stored events replayed after Last-Event-ID (or ?after=), then the end of the stream."""

from __future__ import annotations

import json

from tests.tuning.livehelp import client, live_setup


def _parse(text: str) -> list[dict]:
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value.lstrip(" ")
        if "event" in fields:
            out.append(fields)
    return out


def test_sse_replays_after_last_event_id_and_ends_with_the_run(live):
    from app.core.db import get_sessionmaker
    from app.models import RunState, TuningRun
    from app.tuning.service import add_event

    headers, project, export = live_setup()
    with get_sessionmaker()() as session:
        run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                        state=RunState.succeeded)
        session.add(run)
        session.flush()
        for step in range(1, 6):
            add_event(session, run.id, "log", {"event": "log", "step": step, "loss": 1.0 / step})
        session.commit()
        run_id = run.id
    url = f"/api/v1/tuning-runs/{run_id}/events"
    with client() as api:
        with api.stream("GET", url, headers={**headers, "Accept": "text/event-stream", "Last-Event-ID": "2"}) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            body = resp.read().decode()
        events = _parse(body)
        assert [e["id"] for e in events] == ["3", "4", "5", "5"]
        assert [e["event"] for e in events] == ["log", "log", "log", "end"]
        assert [json.loads(e["data"])["data"]["step"] for e in events[:3]] == [3, 4, 5]
        as_json = api.get(url, params={"after": 3}, headers=headers).json()
        assert [e["id"] for e in as_json] == [4, 5]
        assert api.get("/api/v1/tuning-runs/999999/events", headers=headers).status_code == 404
