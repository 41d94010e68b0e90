"""No API key in any page, log line, event, database row or export: a backend whose key is used for real
(and refused once, by a server that quotes the key back as OpenAI's does), then every place is scanned."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.core.db import get_engine, get_sessionmaker
from app.jobs.runner import run_job
from app.models import Base, Instruction, JobItem, JobStatus
from tests.conftest import login
from tests.support.openai_server import Reply

RIGHT = "sk-live-RIGHTKEY-5f0c9e1d2b3a4c5d6e7f"
WRONG = "sk-live-WRONGKEY-0a9b8c7d6e5f4a3b2c1d"


@pytest.fixture
def everything_logged(caplog):
    """Every logger at DEBUG, httpx and httpcore included (they log requests, never headers: checked here)."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "tuneloop", "sqlalchemy.engine"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _database_text() -> str:
    """Every row of every table, as text."""
    with get_engine().connect() as conn:
        return "\n".join(str(conn.execute(sa.select(table)).all()) for table in Base.metadata.sorted_tables)


def test_the_key_is_used_but_never_written_anywhere(seeded, scripted, monkeypatch, everything_logged):
    from app.users.service import create_token

    monkeypatch.setenv("HOSTED_KEY", WRONG)

    def script(path, body, headers):
        sent = headers.get("authorization", "").removeprefix("Bearer ")
        if sent != RIGHT:
            return Reply(status=401, json={"error": {"message": f"Incorrect API key provided: {sent}. You can find "
                                                                "your API key at https://example.com/keys."}})
        if "Question number 4" in str(body):
            return Reply(status=400, json={"error": {"message": f"Key {sent} may not ask this."}})
        return None

    scripted.script = script
    with get_sessionmaker()() as session:
        from app.models import User

        admin = session.get(User, seeded["admin"])
        token = create_token(session, user=admin, name="scan").secret
        session.commit()
    api = {"Authorization": f"Bearer {token}"}
    responses: list[str] = []
    with TestClient(__import__("app.main", fromlist=["create_app"]).create_app()) as client:
        made = client.post("/api/v1/backends", headers=api, json={
            "name": "hosted", "base_url": scripted.url, "model": "gpt-x", "api_key_env": "HOSTED_KEY",
            "limits": {"max_retries": 1}})
        assert made.status_code == 201, made.text
        responses.append(client.post("/api/v1/backends/hosted/test", headers=api).text)  # refused: wrong key
        job = client.post(f"/api/v1/projects/{seeded['slug']}/jobs", headers=api,
                          json={"kind": "answer", "params": {"backend": "hosted", "temperature": 0}}).json()
        run_job(job["id"])
        refused = client.get(f"/api/v1/jobs/{job['id']}", headers=api).json()
        assert refused["status"] == JobStatus.failed and "HOSTED_KEY" in refused["error"]

        monkeypatch.setenv("HOSTED_KEY", RIGHT)
        responses.append(client.post("/api/v1/backends/hosted/test", headers=api).text)
        assert '"ok":true' in responses[-1]
        client.post(f"/api/v1/jobs/{job['id']}/resume", headers=api)
        run_job(job["id"])
        done = client.get(f"/api/v1/jobs/{job['id']}", headers=api).json()
        assert done["status"] == JobStatus.succeeded and done["counts"]["failed"] == 1  # question 4: the 400
        # The key was really used: every request the server answered carried it.
        assert any(s.headers.get("authorization") == f"Bearer {RIGHT}" for s in scripted.seen)

        for path in ("/api/v1/backends", "/api/v1/backends/hosted", f"/api/v1/jobs/{job['id']}",
                     f"/api/v1/jobs/{job['id']}/items?response=true&limit=500", f"/api/v1/jobs/{job['id']}/events"):
            resp = client.get(path, headers=api)
            assert resp.status_code == 200, path
            responses.append(resp.text)
        failed_item = client.get(f"/api/v1/jobs/{job['id']}/items?status=failed", headers=api).json()["items"][0]
        assert "[the API key] may not ask this" in failed_item["error"]

        # Approve an answered instruction and export the project: the export carries no key either.
        with get_sessionmaker()() as session:
            instruction_id = session.scalar(sa.select(Instruction.id).where(
                Instruction.project_id == seeded["project"], Instruction.instruction == "Question number 1"))
        client.post(f"/api/v1/instructions/{instruction_id}/approve", headers=api,
                    json={"final_response": "answer 0 to: Question number 1"})
        export = client.post(f"/api/v1/projects/{seeded['slug']}/exports", headers=api,
                             json={"format": "sft-messages"}).json()
        from worker.tasks.exports import run as run_export

        run_export(export["id"])
        assert client.get(f"/api/v1/exports/{export['id']}", headers=api).json()["status"] == "succeeded"

        with get_sessionmaker()() as session:
            from app.models import User

            email = session.get(User, seeded["admin"]).email
        login(client, email)
        with get_sessionmaker()() as session:
            item_ids = session.scalars(sa.select(JobItem.id).where(JobItem.job_id == job["id"])).all()
        pages = ["/admin/backends", "/admin/backends/hosted", "/jobs", f"/jobs/{job['id']}",
                 f"/jobs/{job['id']}/items", *(f"/jobs/{job['id']}/items/{i}" for i in item_ids)]
        for page in pages:
            resp = client.get(page)
            assert resp.status_code == 200, page
            responses.append(resp.text)
        assert "HOSTED_KEY" in responses[-len(pages) + 1]  # the variable's name is shown, its value never
        assert "[the API key] may not ask this" in "".join(responses[-len(item_ids):])  # the failed item's page

    exported = "\n".join(p.read_text(errors="replace") for p in (get_settings().data_dir / "exports").rglob("*")
                         if p.is_file())
    assert "Question number 1" in exported
    places = {"API answers and pages": "\n".join(responses), "log lines": everything_logged.text,
              "database rows (events, items, stored answers, backends)": _database_text(), "the export": exported}
    for where, text in places.items():
        for key in (RIGHT, WRONG):
            assert key not in text, f"the key appears in {where}"
            assert not re.search(key[8:20], text), f"part of the key appears in {where}"
