"""Health: the database and the broker are checked for real, with a worker round trip."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import reset_app_caches


def _client():
    from app.main import create_app

    return TestClient(create_app(), raise_server_exceptions=False)


def test_health_ok_with_a_worker_on_each_broker(start_worker):
    worker = start_worker(queues="default")
    with _client() as client:
        resp = None
        for _ in range(60):  # the worker takes a few seconds to start
            resp = client.get("/api/v1/health")
            if resp.status_code == 200:
                break
        assert resp.status_code == 200, (resp.json(), worker.output()[-2000:])
        assert resp.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_health_names_the_broker_when_no_worker_answers(live, sqlite_broker_url, monkeypatch):
    monkeypatch.setenv("TUNELOOP_BROKER_URL", sqlite_broker_url)
    monkeypatch.setenv("TUNELOOP_HEALTH_WORKER_TIMEOUT_S", "0.5")
    reset_app_caches()
    with _client() as client:
        resp = client.get("/api/v1/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["database"] == "ok" and body["status"] == "unavailable"
    assert "no worker answered" in body["broker"]


def test_health_names_the_broker_when_it_is_down(live, monkeypatch):
    monkeypatch.setenv("TUNELOOP_BROKER_URL", "redis://127.0.0.1:1/0")
    reset_app_caches()
    from app.core.queue import get_celery

    get_celery().conf.broker_connection_max_retries = 0
    get_celery().conf.broker_transport_options = {"max_retries": 0}
    with _client() as client:
        resp = client.get("/api/v1/health")
    assert resp.status_code == 503
    assert resp.json()["broker"].startswith("unavailable: cannot publish")
