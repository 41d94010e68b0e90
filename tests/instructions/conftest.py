"""Fixtures for instruction tests: a project and reviewer/annotator tokens."""

from __future__ import annotations

import pytest


@pytest.fixture
def project(client, admin_headers) -> dict:
    resp = client.post("/api/v1/projects", json={"name": "Ingest test"}, headers=admin_headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


@pytest.fixture
def reviewer_headers(make_user, token_for) -> dict[str, str]:
    return token_for(make_user("reviewer"))


@pytest.fixture
def annotator_headers(make_user, token_for) -> dict[str, str]:
    return token_for(make_user("annotator"))


@pytest.fixture
def ingest(client, project, reviewer_headers):
    """POST a batch as a reviewer; answers the response."""

    def _ingest(items=None, *, raw: bytes | None = None, content_type: str = "application/json", headers=None):
        import orjson

        body = raw if raw is not None else orjson.dumps({"items": items})
        return client.post(f"/api/v1/projects/{project['slug']}/instructions", content=body,
                           headers={**(headers or reviewer_headers), "Content-Type": content_type})

    return _ingest
