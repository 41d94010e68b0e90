"""Browser pages: the form creates an export, errors show in the form, status polls, text is escaped."""

from __future__ import annotations

import re

from app.models import Export, ExportStatus
from tests.conftest import login
from tests.exports.conftest import seed_mixed


def _form(client) -> str:
    page = client.get("/exports")
    assert page.status_code == 200
    return re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)


def test_form_creates_an_export_and_its_page_polls(client, db, project, make_user):
    admin = make_user("admin")
    seed_mixed(db, project, n=3)
    db.commit()
    login(client, admin.email)
    token = _form(client)
    resp = client.post("/exports", data={"csrftoken": token, "project": project.slug, "format": "preference",
                                         "preference_style": "conversational", "eval_fraction": "0.1", "seed": "3",
                                         "dedupe": "on", "split": ["train", "eval"], "metadata": "lang = en"},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text
    export = db.get(Export, int(resp.headers["location"].rsplit("/", 1)[1]))
    assert export.options["preference_style"] == "conversational"
    assert export.options["filters"] == {"split": ["train", "eval"], "metadata": {"lang": "en"}}
    page = client.get(resp.headers["location"])
    assert 'data-status="queued"' in page.text and 'hx-trigger="every 1s"' in page.text
    fragment = client.get(resp.headers["location"], headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<section id="export-status"') and "<html" not in fragment.text
    listing = client.get("/exports/list", headers={"HX-Request": "true"})
    assert f"{project.slug} v1" in listing.text and 'hx-trigger="every 1s"' in listing.text


def test_form_errors_are_shown_in_place(client, db, project, make_user):
    admin = make_user("admin")
    seed_mixed(db, project, n=2)
    db.commit()
    login(client, admin.email)
    token = _form(client)
    bad = client.post("/exports", data={"csrftoken": token, "project": project.slug, "format": "kto",
                                        "eval_fraction": "2", "source": "<script>x</script>"})
    assert bad.status_code == 422
    assert "less than 1" in bad.text and "<script>x</script>" not in bad.text
    assert "&lt;script&gt;x&lt;/script&gt;" in bad.text
    empty = client.post("/exports", data={"csrftoken": _form(client), "project": project.slug, "format": "kto",
                                          "source": "nowhere"})
    assert empty.status_code == 422 and "No approved instructions" in empty.text
    assert db.query(Export).count() == 0


def test_a_finished_export_shows_files_preview_and_download(client, db, project, make_user):
    admin = make_user("admin")
    export = Export(project_id=project.id, version=1, format="kto", options={"file_format": "jsonl"},
                    status=ExportStatus.succeeded, rows_done=2, rows_total=2, row_counts={"train": 2, "eval": 0},
                    files=[{"name": "train.jsonl", "split": "train", "rows": 2, "bytes": 10, "sha256": "ab" * 32}],
                    sha256="cd" * 32, path="/tmp/nowhere",
                    preview=[{"split": "train", "row": {"prompt": "<img src=x onerror=alert(1)>", "label": True}}])
    db.add(export)
    db.commit()
    login(client, admin.email)
    page = client.get(f"/exports/{export.id}")
    assert f"/api/v1/exports/{export.id}/download" in page.text and "train.jsonl" in page.text
    assert "<img src=x" not in page.text and "hx-trigger" not in page.text
    assert "cd" * 32 in page.text
