"""/api/v1/backends: add, list, read, change, delete (409 while a job uses it), test; validation names the
field, and the API key itself is never accepted or shown."""

from __future__ import annotations

from app.models import Job, JobStatus, Project
from tests.support.openai_server import Reply, ScriptedServer, chat_reply

URL = "/api/v1/backends"


def _add(client, headers, **body):
    body = {"name": "teacher", "base_url": "http://127.0.0.1:9/v1", "model": "llama-3-70b", **body}
    return client.post(URL, json=body, headers=headers)


def test_add_list_read_change_delete(client, admin_headers):
    resp = _add(client, admin_headers, api_key_env="TEACHER_KEY", limits={"rpm": 600, "max_concurrency": 4})
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["name"] == "teacher" and made["kind"] == "openai" and made["api_key_env"] == "TEACHER_KEY"
    assert made["limits"] == {"max_concurrency": 4, "rpm": 600, "tpm": None, "timeout_s": 120.0, "max_retries": 5}
    assert made["last_test"] is None
    assert [b["name"] for b in client.get(URL, headers=admin_headers).json()["items"]] == ["teacher"]

    changed = client.patch(f"{URL}/teacher", json={"limits": {"tpm": 90000, "rpm": None}, "model": "llama-3.1-70b"},
                           headers=admin_headers)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    # Fields not sent keep their values; an explicit null puts one back to its default (rpm: no limit).
    assert body["model"] == "llama-3.1-70b" and body["base_url"] == "http://127.0.0.1:9/v1"
    assert body["limits"]["tpm"] == 90000 and body["limits"]["rpm"] is None and body["limits"]["max_concurrency"] == 4
    assert client.get(f"{URL}/teacher", headers=admin_headers).json()["limits"]["tpm"] == 90000

    assert _add(client, admin_headers).status_code == 409
    assert client.delete(f"{URL}/teacher", headers=admin_headers).status_code == 204
    missing = client.get(f"{URL}/teacher", headers=admin_headers)
    assert missing.status_code == 404 and "teacher" in missing.json()["error"]["message"]


def test_bad_input_names_the_field(client, admin_headers):
    cases = [
        ({"name": "My Teacher"}, "name", "slug"),
        ({"name": "run-3"}, "name", "tuning runs"),
        ({"base_url": "ftp://host/v1"}, "base_url", "http"),
        ({"base_url": ""}, "base_url", "required"),
        ({"base_url": "https://user:pw@api.example.com/v1"}, "base_url", "password"),
        ({"api_key_env": "openai key"}, "api_key_env", "environment variable"),
        ({"limits": {"rpm": 0}}, "limits.rpm", "Requests per minute must be between 1 and 1,000,000"),
        ({"limits": {"max_concurrency": 5000}}, "limits.max_concurrency", "between 1 and 1,024"),
        ({"limits": {"timeout_s": 0.1}}, "limits.timeout_s", "Timeout"),
        ({"limits": {"max_retries": 99}}, "limits.max_retries", "Retries"),
        ({"limits": {"burst": 3}}, "limits.burst", "Extra inputs"),
        ({"kind": "local", "base_url": "http://x/v1"}, "base_url", "openai backends"),
    ]
    for body, field, words in cases:
        resp = _add(client, admin_headers, **body)
        assert resp.status_code == 422, (body, resp.text)
        error = resp.json()["error"]
        assert field in [d["field"] for d in error["details"]], (body, error)
        assert words in error["message"], (body, error["message"])
    bad_patch = client.patch(f"{URL}/nobody", json={"limits": {"tpm": -1}}, headers=admin_headers)
    assert bad_patch.status_code == 422 and bad_patch.json()["error"]["details"][0]["field"] == "limits.tpm"


def test_the_key_itself_is_refused_and_never_echoed(client, admin_headers):
    key = "sk-proj-Zq8v0cT3BlbkFJ2xYs9LmN4pQr7sTuVwXy"
    for body in ({"api_key": key}, {"token": key}, {"api_key_env": key},
                 {"api_key_env": "SK_LIVE_51HBQWERTYASDFGH"}):
        resp = _add(client, admin_headers, **body)
        assert resp.status_code == 422, body
        assert key not in resp.text and "SK_LIVE_51HBQWERTYASDFGH" not in resp.text
        assert "api_key_env" in resp.text or "environment variable" in resp.text
    refused = _add(client, admin_headers, api_key=key).json()["error"]
    assert "'api_key' is not accepted" in refused["message"] and "api_key_env" in refused["message"]
    assert client.get(URL, headers=admin_headers).json()["items"] == []
    _add(client, admin_headers)
    patched = client.patch(f"{URL}/teacher", json={"api_key": key}, headers=admin_headers)
    assert patched.status_code == 422 and key not in patched.text


def test_local_backend_needs_a_succeeded_run(client, admin_headers):
    resp = _add(client, admin_headers, name="tuned", kind="local", base_url="", model="run-999")
    assert resp.status_code == 422 and resp.json()["error"]["details"][0]["field"] == "model"
    assert "tuning run 999 does not exist" in resp.json()["error"]["message"]
    folder = _add(client, admin_headers, name="tiny", kind="local", base_url="", model="/models/tiny")
    assert folder.status_code == 201 and folder.json()["base_url"] == ""


def test_delete_is_refused_while_an_active_job_uses_it(client, admin_headers, db, make_user):
    _add(client, admin_headers)
    project = Project(name="P", slug="p-backends")
    db.add(project)
    db.flush()
    running = Job(project_id=project.id, kind="answer", params={}, backends=["teacher"], status=JobStatus.running)
    ended = Job(project_id=project.id, kind="answer", params={}, backends=["teacher"], status=JobStatus.succeeded)
    db.add_all([running, ended])
    db.flush()
    resp = client.delete(f"{URL}/teacher", headers=admin_headers)
    assert resp.status_code == 409
    error = resp.json()["error"]
    assert f"active job {running.id}" in error["message"] and error["details"][0]["jobs"] == [running.id]
    running.status = JobStatus.cancelled
    db.flush()
    assert client.delete(f"{URL}/teacher", headers=admin_headers).status_code == 204


def test_only_admins(client, make_user, token_for, db):
    reviewer = token_for(make_user("reviewer"))
    db.commit()
    assert client.get(URL, headers=reviewer).status_code == 403
    assert _add(client, reviewer).status_code == 403
    assert client.get(URL).status_code == 401


def test_test_reports_latency_answer_and_capabilities(client, admin_headers):
    with ScriptedServer() as server:
        _add(client, admin_headers, base_url=server.url)
        resp = client.post(f"{URL}/teacher/test", headers=admin_headers)
        assert resp.status_code == 200, resp.text
        result = resp.json()
        assert result["ok"] is True and result["latency_ms"] > 0
        assert result["sample"] == "answer 0 to: Reply with the word OK."
        # The scripted server answers chat and raw completions, but sends no logprobs and ignores the schema.
        assert result["capabilities"] == {"chat": True, "completions": True, "logprobs": False, "json_schema": False}
        paths = [s.path for s in server.seen]
        assert paths[:2] == ["/v1/chat/completions", "/v1/completions"]
        assert any("response_format" in s.body for s in server.seen)
    stored = client.get(f"{URL}/teacher", headers=admin_headers).json()["last_test"]
    assert stored["ok"] is True and stored["tested_at"] and stored["capabilities"]["chat"] is True


def test_test_of_a_capable_server(client, admin_headers):
    def script(path, body, headers):
        logprobs = {"tokens": [" 4"], "token_logprobs": [-0.1]} if body.get("logprobs") else None
        if path.endswith("/completions") and "prompt" in body:
            choice = {"index": 0, "text": " 4,", "logprobs": logprobs, "finish_reason": "length"}
            return Reply(json={"choices": [choice]})
        if "response_format" in body:
            return chat_reply('{"ok": true}')
        return None

    with ScriptedServer(script) as server:
        _add(client, admin_headers, base_url=server.url)
        result = client.post(f"{URL}/teacher/test", headers=admin_headers).json()
    assert result["capabilities"] == {"chat": True, "completions": True, "logprobs": True, "json_schema": True}


def test_test_of_a_server_that_is_down_or_refuses_the_key(client, admin_headers, monkeypatch):
    _add(client, admin_headers, base_url="http://127.0.0.1:9/v1")
    down = client.post(f"{URL}/teacher/test", headers=admin_headers).json()
    assert down["ok"] is False and "could not be reached" in down["error"]
    assert down["capabilities"]["chat"] is False

    monkeypatch.setenv("TEACHER_KEY", "sk-wrong-0123456789")

    def refuse(path, body, headers):
        return Reply(status=401, json={"error": {"message": "Incorrect API key provided: sk-wrong-0123456789."}})

    with ScriptedServer(refuse) as server:
        client.patch(f"{URL}/teacher", json={"base_url": server.url, "api_key_env": "TEACHER_KEY"},
                     headers=admin_headers)
        refused = client.post(f"{URL}/teacher/test", headers=admin_headers)
        assert len(server.seen) == 1  # a refused key stops the test: nothing else is sent
    result = refused.json()
    assert result["ok"] is False and "TEACHER_KEY" in result["error"] and "HTTP 401" in result["error"]
    assert "sk-wrong-0123456789" not in refused.text
    assert "sk-wrong" not in client.get(f"{URL}/teacher", headers=admin_headers).text
