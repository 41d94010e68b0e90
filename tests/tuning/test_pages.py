"""Run pages: the list with state badges, the new-run form (errors shown, run created), the run page."""

from __future__ import annotations

from tests.conftest import csrf_from, login
from tests.tuning.conftest import make_project, make_snapshot


def test_new_run_form_creates_a_run_and_the_pages_show_it(client, db, make_user):
    admin = make_user("admin")
    project = make_project(db)
    export = make_snapshot(db, project)
    db.commit()
    login(client, admin.email)
    form = client.get("/runs/new")
    assert form.status_code == 200 and f"{project.slug}:{export.id}" in form.text
    token = csrf_from(client)
    bad = client.post("/runs/new", data={"csrftoken": token, "export": f"{project.slug}:{export.id}",
                                         "base_model": "/m", "method": "dpo-lora"})
    assert bad.status_code == 422 and "preference" in bad.text
    resp = client.post("/runs/new", data={"csrftoken": token, "export": f"{project.slug}:{export.id}",
                                          "base_model": "/m/<tiny>", "method": "sft-lora", "max_steps": "5",
                                          "learning_rate": "0.001", "eval_enabled": "on"},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text
    page = client.get(resp.headers["location"])
    assert page.status_code == 200 and "/m/&lt;tiny&gt;" in page.text and "badge created" in page.text
    assert 'hx-trigger="every 2s"' in page.text  # live while the run is active
    fragment = client.get(resp.headers["location"], headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<div id="run-live"')
    assert "<html" not in fragment.text and "HX-Request" in fragment.headers["vary"]
    listing = client.get("/runs")
    assert listing.status_code == 200 and "badge created" in listing.text


def test_run_pages_are_for_admins(client, db, make_user):
    reviewer = make_user("reviewer")
    db.commit()
    login(client, reviewer.email)
    assert client.get("/runs", headers={"Accept": "text/html"}).status_code == 403
