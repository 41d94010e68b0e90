"""Security of the review and admin side: every route refuses annotators and anonymous users, forms need
a CSRF token, and user text renders escaped. The route list comes from the app itself, so a route added
later is covered without editing this file."""

from __future__ import annotations

import re

import pytest

from app.models import ApiToken, ImportJob, ImportStatus, InstructionStatus
from app.users.service import create_token
from tests.conftest import csrf_from, login

MINE = ("/review", "/admin")
MY_API = ("/api/v1/instructions/{instruction_id}/approve", "/api/v1/instructions/{instruction_id}/approval")


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every review and admin route the app serves."""
    from app.main import create_app

    app = create_app()
    try:
        from fastapi.routing import iter_route_contexts

        contexts = [(c.path, c.methods) for c in iter_route_contexts(app.routes)]
    except ImportError:  # older FastAPI: routes are flat
        contexts = [(r.path, getattr(r, "methods", None)) for r in app.routes if hasattr(r, "path")]
    found = set()
    for path, methods in contexts:
        if path.startswith(MINE) or path in MY_API:
            for method in methods or ():
                if method != "HEAD":
                    found.add((method, path))
    return sorted(found)


ROUTES = _routes()


def test_the_route_list_is_complete():
    paths = {p for _, p in ROUTES}
    # A few that must be there; if this fails the discovery above broke and every check below is void.
    for expected in ("/review", "/review/{instruction_id}", "/admin/projects", "/admin/users", "/admin/tokens",
                     "/admin/imports", "/admin/instructions", "/admin/instructions/bulk", *MY_API):
        assert expected in paths
    assert len(ROUTES) >= 25


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "some-slug" if m.group(0) == "{slug}" else "1", path)


def test_annotators_get_403_everywhere(client, make_user, token_for):
    annotator = make_user("annotator")
    headers = token_for(annotator)
    login(client, annotator.email)
    token = csrf_from(client)
    for method, path in ROUTES:
        url = _fill(path)
        if path.startswith("/api/"):
            resp = client.request(method, url, json={}, headers=headers)
            assert resp.status_code == 403, (method, path, resp.status_code)
            assert resp.json()["error"]["code"] == "forbidden"
            continue
        data = {"csrftoken": token} if method == "POST" else None
        resp = client.request(method, url, data=data, headers={"Accept": "text/html"}, follow_redirects=False)
        assert resp.status_code == 403, (method, path, resp.status_code)
        assert "403" in resp.text and "you are annotator" in resp.text


def test_reviewers_get_403_on_admin_pages_only(client, make_user):
    reviewer = make_user("reviewer")
    login(client, reviewer.email)
    token = csrf_from(client)
    for method, path in ROUTES:
        if not path.startswith("/admin"):
            continue
        data = {"csrftoken": token} if method == "POST" else None
        resp = client.request(method, _fill(path), data=data, headers={"Accept": "text/html"}, follow_redirects=False)
        assert resp.status_code == 403, (method, path, resp.status_code)
    assert client.get("/review").status_code == 200


def test_anonymous_users_are_sent_to_sign_in(client):
    for method, path in ROUTES:
        url = _fill(path)
        if path.startswith("/api/"):
            resp = client.request(method, url, json={})
            assert resp.status_code == 401, (method, path)
            continue
        resp = client.request(method, url, headers={"Accept": "text/html"}, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login"), (method, path)


def test_forms_without_csrf_token_are_refused(client, make_user):
    admin = make_user("admin")
    login(client, admin.email)
    posts = [(m, p) for m, p in ROUTES if m == "POST" and not p.startswith("/api/")]
    assert len(posts) >= 12
    for _, path in posts:
        resp = client.post(_fill(path), data={"name": "x"}, follow_redirects=False)
        assert resp.status_code == 403, path
        assert resp.json()["error"]["code"] == "csrf_failed"


PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "[click](javascript:alert(1))"]
RAW = ["<script>alert(1)</script>", "<img src=x onerror", 'href="javascript:']


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_render_escaped(client, db, make_user, make_project, make_instruction, annotate, payload):
    admin = make_user("admin", email=f"adm-{PAYLOADS.index(payload)}@example.com")
    admin.name = f"Admin {payload}"
    project = make_project(name=f"Project {payload}")
    project.guidelines = f"Guidelines {payload}"
    inst = make_instruction(project, text=f"Instruction {payload}", candidates=(f"Cand {payload}", "Plain"),
                            input=f"Input {payload}", source=f"src {payload}", status=InstructionStatus.submitted)
    a, b = (c.id for c in inst.candidates)
    person = make_user("annotator", email=f"person-{PAYLOADS.index(payload)}@example.com")
    person.name = f"Annotator {payload}"
    annotate(inst, person, ranking=[a, b], correction=f"Correction {payload}", comment=f"Comment {payload}",
             ratings={str(a): 5, str(b): 1})
    annotate(inst, admin, ranking=[b, a], flags=["unsafe"])
    create_token(db, user=person, name=f"Token {payload}")
    db.add(ImportJob(project_id=project.id, path="/tmp/x", source_name=f"File {payload}", format="auto",
                     status=ImportStatus.failed, error=f"Error {payload}", result={}))
    db.commit()
    login(client, admin.email)

    pages = ["/review", f"/review?project={project.slug}", f"/review/{inst.id}", "/admin/projects",
             f"/admin/projects/{project.slug}", "/admin/users", "/admin/tokens", "/admin/instructions",
             "/admin/imports", f"/admin/imports/{db.query(ImportJob).one().id}"]
    seen = ""
    for url in pages:
        resp = client.get(url)
        assert resp.status_code == 200, url
        for raw in RAW:
            assert raw not in resp.text, (url, raw)
        seen += resp.text
    # The texts are shown (escaped), not dropped: otherwise the checks above would prove nothing.
    for label in ("Instruction", "Cand", "Input", "Correction", "Comment", "Guidelines", "Project", "Annotator",
                  "Admin", "Token", "File", "Error"):
        assert f"{label} " in seen, label
    if payload.startswith("<script>"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in seen
    assert db.query(ApiToken).count() >= 1
