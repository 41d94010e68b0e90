"""The backends page: list, add and edit with errors beside the fields, the Test button, delete."""

from __future__ import annotations

import re

from tests.conftest import csrf_from, login
from tests.support.openai_server import ScriptedServer


def _form(client, **fields):
    data = {"csrftoken": csrf_from(client), "name": "teacher", "kind": "openai", "base_url": "http://127.0.0.1:9/v1",
            "model": "llama-3-70b", "adapter": "", "api_key_env": "", "max_concurrency": "", "rpm": "", "tpm": "",
            "timeout_s": "", "max_retries": "", **fields}
    return data


def _admin(client, make_user, db):
    admin = make_user("admin")
    db.commit()  # a refused form rolls its request back; the admin must outlive it
    login(client, admin.email)


def test_admin_adds_edits_tests_and_deletes_a_backend(client, make_user, db, monkeypatch):
    monkeypatch.setenv("TEACHER_KEY", "sk-test-page-0123456789")
    _admin(client, make_user, db)
    home = client.get("/admin/projects")
    assert 'href="/admin/backends"' in home.text  # reachable from the Admin area
    assert "No backend yet" in client.get("/admin/backends").text

    with ScriptedServer() as server:
        added = client.post("/admin/backends/new", data=_form(client, base_url=server.url, api_key_env="TEACHER_KEY",
                                                              rpm="120", max_concurrency="4"), follow_redirects=False)
        assert added.status_code == 303 and added.headers["location"] == "/admin/backends?done=created"
        page = client.get("/admin/backends").text
        assert "teacher" in page and "TEACHER_KEY" in page and "120 rpm" in page and "not tested yet" in page

        token = csrf_from(client)
        tested = client.post("/admin/backends/teacher/test", headers={"HX-Request": "true", "X-CSRFToken": token})
        assert tested.status_code == 200
        fragment = tested.text
        assert "<html" not in fragment  # only the row's result cell
        assert re.search(r"\d+ ms", fragment) and "answer 0 to: Reply with the word OK." in fragment
        assert "chat ✓" in fragment and "raw completions ✓" in fragment and "logprobs ✗" in fragment
        assert {s.headers["authorization"] for s in server.seen} == {"Bearer sk-test-page-0123456789"}
        assert "sk-test-page" not in fragment
    assert "answer 0 to: Reply with the word OK." in client.get("/admin/backends").text  # kept as last test

    edit = client.get("/admin/backends/teacher")
    assert 'value="TEACHER_KEY"' in edit.text and 'value="4"' in edit.text
    saved = client.post("/admin/backends/teacher", data=_form(client, name="ignored", rpm="", tpm="50000",
                                                              max_concurrency="4"), follow_redirects=False)
    assert saved.status_code == 303
    page = client.get("/admin/backends").text
    assert "∞ rpm" in page and "50000 tpm" in page and "ignored" not in page

    deleted = client.post("/admin/backends/teacher/delete", data={"csrftoken": csrf_from(client)},
                          follow_redirects=False)
    assert deleted.status_code == 303 and "teacher" not in client.get("/admin/backends").text


def test_errors_show_beside_their_fields_and_keep_what_was_typed(client, make_user, db):
    _admin(client, make_user, db)
    resp = client.post("/admin/backends/new", data=_form(client, name="Bad Name", base_url="ftp://x", rpm="0",
                                                          timeout_s="99999", model="my-model"))
    assert resp.status_code == 422
    page = resp.text
    for field, words in (("name", "Name must be a slug"), ("base_url", "Base URL must start with http"),
                         ("rpm", "Requests per minute must be between 1 and 1,000,000"),
                         ("timeout_s", "Timeout (seconds) must be between 1 and 3,600")):
        assert re.search(rf'id="err-{field}">[^<]*{re.escape(words)}', page), field
    assert 'value="Bad Name"' in page and 'value="my-model"' in page and 'value="0"' in page
    assert "No backend yet" in client.get("/admin/backends").text  # nothing half-added


def test_a_pasted_key_is_refused_and_not_shown_back(client, make_user, db):
    _admin(client, make_user, db)
    key = "sk-proj-Zq8v0cT3BlbkFJ2xYs9LmN4pQr7"
    resp = client.post("/admin/backends/new", data=_form(client, api_key_env=key))
    assert resp.status_code == 422
    assert "API key variable must be the name of an environment variable" in resp.text
    assert key not in resp.text


def test_delete_while_a_job_uses_it_says_which(client, make_user, db):
    from app.models import Job, JobStatus, Project

    _admin(client, make_user, db)
    client.post("/admin/backends/new", data=_form(client), follow_redirects=False)
    project = Project(name="P", slug="p-pages")
    db.add(project)
    db.flush()
    job = Job(project_id=project.id, kind="answer", params={}, backends=["teacher"], status=JobStatus.queued)
    db.add(job)
    db.commit()
    resp = client.post("/admin/backends/teacher/delete", data={"csrftoken": csrf_from(client)})
    assert resp.status_code == 409 and f"active job {job.id}" in resp.text
    assert "teacher" in resp.text
