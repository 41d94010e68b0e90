"""The annotation pages through the app: project page, task page, draft, submit with errors, next task."""

from __future__ import annotations

import json
import re

from app.models import Annotation, AnnotationStatus
from tests.conftest import csrf_from, login


def _start(client, db, make_user, make_project, **settings):
    project = make_project(**settings)
    user = make_user()
    db.commit()  # a refused request rolls its session back; the setup must outlive it
    login(client, user.email)
    return project, user


def _annotation_id(html: str) -> int:
    return int(re.search(r'data-annotation="(\d+)"', html).group(1))


def test_home_lists_projects_with_progress_and_start(client, db, make_user, make_project):
    project, _ = _start(client, db, make_user, make_project, guidelines="Prefer **short** answers.")
    page = client.get("/")
    assert page.status_code == 200
    assert project.name in page.text and "Prefer short answers." in page.text
    assert f'href="/projects/{project.slug}/annotate"' in page.text
    assert "0 / 3 done" in page.text


def test_project_page_shows_guidelines_progress_and_start(client, db, make_user, make_project):
    project, _ = _start(client, db, make_user, make_project)
    page = client.get(f"/projects/{project.slug}")
    assert page.status_code == 200
    assert "<strong>carefully</strong>" in page.text
    assert 'aria-valuenow="0.0"' in page.text and "Start annotating" in page.text
    assert client.get("/projects/nope").status_code == 404


def test_task_page_draft_submit_and_next(client, db, make_user, make_project):
    project, _ = _start(client, db, make_user, make_project)
    page = client.get(f"/projects/{project.slug}/annotate")
    assert page.status_code == 200
    first = _annotation_id(page.text)
    annotation = db.get(Annotation, first)
    ids = [c.id for c in annotation.instruction.candidates]
    token = csrf_from(client)
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    saved = client.post(f"/annotations/{first}/draft", headers=headers, data={
        "ranking": json.dumps([ids[1], None, ids[0]]), "comment": "so far", "correction_mode": "edit",
        "corrected_candidate_id": str(ids[0]), "correction": annotation.instruction.candidates[0].text + "\nbetter"})
    assert saved.status_code == 200 and "Draft saved" in saved.text
    assert 'hx-swap-oob="true"' in saved.text and "+ better" in saved.text
    # A reload shows the draft.
    again = client.get(f"/projects/{project.slug}/annotate")
    assert _annotation_id(again.text) == first and "so far" in again.text
    # An incomplete ranking is refused with an inline error, and the draft is kept.
    bad = client.post(f"/annotations/{first}/submit", headers=headers,
                      data={"ranking": json.dumps([ids[1], None, ids[0]]), "comment": "so far"})
    # It names the card as the page letters it (this annotation's own order), and marks that card.
    letter = "ABC"[db.get(Annotation, first).shown_order.index(ids[2])]
    assert bad.status_code == 200 and 'data-error="ranking"' in bad.text
    assert f"Candidate {letter} is not ranked yet" in bad.text
    assert re.search(rf'class="card ann-cand unranked"[^>]*data-id="{ids[2]}"', bad.text)
    assert db.get(Annotation, first).status == AnnotationStatus.in_progress
    good = client.post(f"/annotations/{first}/submit", headers=headers, data={
        "ranking": json.dumps([ids[2], ids[0], ids[1]]), "rating_" + str(ids[0]): "4", "flags": "needs_expert"})
    assert good.status_code == 200
    nxt = _annotation_id(good.text)
    assert nxt != first and good.headers["HX-Push-Url"] == f"/projects/{project.slug}/tasks/{nxt}"
    done = db.get(Annotation, first)
    assert done.status == AnnotationStatus.submitted and done.ratings == {str(ids[0]): 4}
    assert done.flags == ["needs_expert"] and done.ranking == [ids[2], ids[0], ids[1]]
    assert 'data-testid="mine">1<' in good.text
    # The submitted task's URL now opens it for editing (until a reviewer decides), without autosave.
    edit = client.get(f"/projects/{project.slug}/tasks/{first}", follow_redirects=False)
    assert edit.status_code == 200 and 'data-testid="editing"' in edit.text
    assert f'hx-post="/annotations/{first}/revise"' in edit.text and "/draft" not in edit.text


def test_a_plain_form_post_gets_422_and_a_rating_off_the_scale_is_named(client, db, make_user, make_project):
    project, _ = _start(client, db, make_user, make_project, rating_scale="A-D")
    first = _annotation_id(client.get(f"/projects/{project.slug}/annotate").text)
    ids = [c.id for c in db.get(Annotation, first).instruction.candidates]
    resp = client.post(f"/annotations/{first}/submit", headers={"X-CSRFToken": csrf_from(client)}, data={
        "ranking": json.dumps(ids), f"rating_{ids[0]}": "5", "correction_mode": "new", "correction": "  "})
    assert resp.status_code == 422
    assert "is not on the scale A/B/C/D" in resp.text and "the correction is empty" in resp.text


def test_skip_needs_a_reason_and_moves_on(client, db, make_user, make_project):
    project, _ = _start(client, db, make_user, make_project)
    first = _annotation_id(client.get(f"/projects/{project.slug}/annotate").text)
    headers = {"X-CSRFToken": csrf_from(client), "HX-Request": "true"}
    assert client.post(f"/annotations/{first}/skip", headers=headers, data={"reason": " "}).status_code == 422
    resp = client.post(f"/annotations/{first}/skip", headers=headers, data={"reason": "unclear"})
    assert _annotation_id(resp.text) != first
    assert db.get(Annotation, first).skip_reason == "unclear"


def test_drafts_are_private_and_forms_need_csrf(client, db, make_user, make_project):
    project, _ = _start(client, db, make_user, make_project)
    first = _annotation_id(client.get(f"/projects/{project.slug}/annotate").text)
    assert client.post(f"/annotations/{first}/draft", data={"comment": "x"}).status_code == 403
    other = make_user()
    db.commit()
    client.post("/logout", headers={"X-CSRFToken": csrf_from(client)})
    login(client, other.email)
    headers = {"X-CSRFToken": csrf_from(client)}
    assert client.post(f"/annotations/{first}/draft", headers=headers, data={"comment": "x"}).status_code == 404
    assert client.get(f"/projects/{project.slug}/tasks/{first}").status_code == 404


def test_progress_fragment_and_done_state(client, db, make_user, make_project):
    project, _ = _start(client, db, make_user, make_project, n=1)
    first = _annotation_id(client.get(f"/projects/{project.slug}/annotate").text)
    ids = [c.id for c in db.get(Annotation, first).instruction.candidates]
    headers = {"X-CSRFToken": csrf_from(client), "HX-Request": "true"}
    resp = client.post(f"/annotations/{first}/submit", headers=headers, data={"ranking": json.dumps(ids)})
    assert "Nothing left for you here" in resp.text
    frag = client.get(f"/projects/{project.slug}/progress", headers={"HX-Request": "true"})
    assert "<html" not in frag.text and "1 / 1 done" in frag.text and 'data-testid="mine-count">1<' in frag.text


def test_a_draft_keeps_only_this_instructions_candidates(client, db, make_user, make_project):
    project, _ = _start(client, db, make_user, make_project)
    first = _annotation_id(client.get(f"/projects/{project.slug}/annotate").text)
    ids = [c.id for c in db.get(Annotation, first).instruction.candidates]
    headers = {"X-CSRFToken": csrf_from(client), "HX-Request": "true"}
    resp = client.post(f"/annotations/{first}/draft", headers=headers, data={
        "ranking": json.dumps([ids[0], 424242424242]), "correction_mode": "edit",
        "corrected_candidate_id": "424242424242", "correction": "x", "rating_424242": "3"})
    assert resp.status_code == 200
    draft = db.get(Annotation, first)
    assert draft.ranking == [ids[0], None] and draft.corrected_candidate_id is None and draft.ratings == {}


def test_autosave_without_htmx_still_answers_the_fragment(client, db, make_user, make_project):
    project, _ = _start(client, db, make_user, make_project)
    first = _annotation_id(client.get(f"/projects/{project.slug}/annotate").text)
    resp = client.post(f"/annotations/{first}/draft", headers={"X-CSRFToken": csrf_from(client)}, data={})
    assert resp.status_code == 200 and "Draft saved" in resp.text and "<html" not in resp.text
