"""Fixtures for image tests: a project, a reviewer token, an ingest helper and the image root."""

from __future__ import annotations

import orjson
import pytest


@pytest.fixture
def reviewer_headers(make_user, token_for, db) -> dict[str, str]:
    headers = token_for(make_user("reviewer"))
    db.commit()  # a refused request rolls the test session back and must keep the token
    return headers


@pytest.fixture
def project(client, db, admin_headers) -> dict:
    resp = client.post("/api/v1/projects", json={"name": "Images"}, headers=admin_headers)
    assert resp.status_code == 201, resp.text
    db.commit()  # a refused request rolls the test session back and must keep the project
    return resp.json()


@pytest.fixture
def ingest(client, project, reviewer_headers):
    def _ingest(items: list[dict]):
        return client.post(f"/api/v1/projects/{project['slug']}/instructions",
                           content=orjson.dumps({"items": items}),
                           headers={**reviewer_headers, "Content-Type": "application/json"})

    return _ingest


@pytest.fixture
def image_root():
    """The folder REST clients may name image paths under (data_dir/imports by default)."""
    from app.images.refs import rest_root

    root = rest_root()
    root.mkdir(parents=True, exist_ok=True)
    return root
