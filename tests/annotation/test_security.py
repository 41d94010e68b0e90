"""Every user-supplied text on the annotation pages is escaped; drafts stay private; forms carry CSRF."""

from __future__ import annotations

import hashlib
import re

from app.models import Candidate, Instruction, Project
from tests.annotation.xss import PAYLOADS, TEXT, injected
from tests.conftest import csrf_from, login


def _hostile_project(db) -> Project:
    project = Project(name="Evil " + PAYLOADS[0], slug="evil", guidelines=TEXT, settings={})
    db.add(project)
    db.flush()
    ins = Instruction(project_id=project.id, instruction=TEXT, input=TEXT, system=TEXT, external_id=PAYLOADS[1],
                      history=[{"role": "user", "content": TEXT}, {"role": "assistant", "content": TEXT}],
                      meta={PAYLOADS[2]: TEXT, "nested": {"x": PAYLOADS[0]}}, source="test",
                      content_hash=hashlib.sha256(TEXT.encode()).hexdigest())
    ins.candidates = [Candidate(text=TEXT + f" {n}", model=PAYLOADS[1]) for n in range(3)]
    db.add(ins)
    db.flush()
    return project


def test_payloads_are_escaped_on_every_annotation_page(client, db, make_user):
    project = _hostile_project(db)
    user = make_user()
    db.commit()
    login(client, user.email)
    task = client.get("/projects/evil/annotate")
    assert task.status_code == 200
    aid = re.search(r'data-annotation="(\d+)"', task.text).group(1)
    headers = {"X-CSRFToken": csrf_from(client), "HX-Request": "true"}
    draft = client.post(f"/annotations/{aid}/draft", headers=headers,
                        data={"comment": TEXT, "correction_mode": "new", "correction": TEXT})
    assert draft.status_code == 200
    pages = {
        "home": client.get("/").text,
        "project": client.get(f"/projects/{project.slug}").text,
        "task with draft": client.get("/projects/evil/annotate").text,
        "draft fragment": draft.text,
        "progress": client.get("/projects/evil/progress", headers={"HX-Request": "true"}).text,
    }
    for name, html in pages.items():
        assert injected(html) == [], f"{name}: {injected(html)}"
    task_html = pages["task with draft"]
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in task_html
    assert "{{ 7*7 }}{% raw %}" in task_html  # template syntax in data is text, never evaluated


def test_csrf_is_on_every_task_form(client, db, make_user, make_project):
    project = make_project()
    user = make_user()
    db.commit()
    login(client, user.email)
    html = client.get(f"/projects/{project.slug}/annotate").text
    forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, flags=re.S)
    assert len(forms) >= 3
    assert all('name="csrftoken"' in body for body in forms)
    aid = re.search(r'data-annotation="(\d+)"', html).group(1)
    assert client.post(f"/annotations/{aid}/submit", data={"all_bad": "1"}).status_code == 403
    assert client.post(f"/annotations/{aid}/skip", data={"reason": "x"}).status_code == 403
