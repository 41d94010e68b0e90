"""Fixtures for instruction tests: a project, reviewer and annotator tokens, and an ingest helper."""

from __future__ import annotations

import orjson
import pytest


@pytest.fixture
def reviewer_headers(make_user, token_for) -> dict[str, str]:
    return token_for(make_user("reviewer"))


@pytest.fixture
def annotator_headers(make_user, token_for) -> dict[str, str]:
    return token_for(make_user("annotator"))


@pytest.fixture
def project(client, db, admin_headers, reviewer_headers, annotator_headers) -> dict:
    resp = client.post("/api/v1/projects", json={"name": "Ingest test"}, headers=admin_headers)
    assert resp.status_code == 201, resp.text
    # Commit (a savepoint here): a refused request rolls the test session back and must keep these.
    db.commit()
    return resp.json()


@pytest.fixture
def ingest(client, project, reviewer_headers):
    """POST a batch (items as JSON, or raw bytes) as a reviewer; answers the response."""

    def _ingest(items=None, *, raw: bytes | None = None, content_type: str = "application/json", headers=None):
        body = raw if raw is not None else orjson.dumps({"items": items})
        return client.post(f"/api/v1/projects/{project['slug']}/instructions", content=body,
                           headers={**(reviewer_headers if headers is None else headers), "Content-Type": content_type})

    return _ingest


def ndjson(items: list) -> bytes:
    return b"\n".join(orjson.dumps(it) for it in items) + b"\n"
