"""Review pages and the REST approve endpoint, through the real app on both databases."""

from __future__ import annotations

import re

from app.models import Approval, InstructionStatus
from tests.conftest import csrf_from, login


def _setup(db, make_user, make_project, make_instruction, annotate):
    project = make_project(name="Support bot")
    inst = make_instruction(project, text="Summarise the ticket.", candidates=("Short.", "Longer answer.", "Nope."),
                            status=InstructionStatus.submitted)
    a, b, c = (x.id for x in inst.candidates)
    u1, u2 = make_user(email="ann1@example.com"), make_user(email="ann2@example.com")
    annotate(inst, u1, ranking=[b, a, c], correction="Longer, better answer.", comment="fixed tone")
    annotate(inst, u2, ranking=[b, c, a], flags=["needs_expert"])
    return project, inst


def test_review_list_and_item(client, db, make_user, make_project, make_instruction, annotate):
    project, inst = _setup(db, make_user, make_project, make_instruction, annotate)
    reviewer = make_user("reviewer")
    login(client, reviewer.email)

    page = client.get("/review")
    assert page.status_code == 200
    assert f"/review/{inst.id}" in page.text and "Summarise the ticket." in page.text

    flagged = client.get("/review", params={"flag": "needs_expert"})
    assert f"/review/{inst.id}" in flagged.text
    assert f"/review/{inst.id}" not in client.get("/review", params={"flag": "unsafe"}).text
    assert f"/review/{inst.id}" not in client.get("/review", params={"tau_min": "0.9"}).text
    assert f"/review/{inst.id}" in client.get("/review", params={"tau_min": "-1", "tau_max": "0.5"}).text
    figures = client.get("/review", params={"project": project.slug})
    assert 'data-testid="alpha"' in figures.text and "τ with consensus" not in figures.text  # admins only
    bad = client.get("/review", params={"tau_min": "abc"})
    assert bad.status_code == 422 and "is not a number" in bad.text

    item = client.get(f"/review/{inst.id}")
    assert item.status_code == 200
    assert item.text.count('data-testid="annotation"') == 2
    assert "fixed tone" in item.text and "<ins>" in item.text  # the correction's diff
    assert 'data-testid="top1">100%' in item.text


def test_adjudicate_accept_reject(client, db, make_user, make_project, make_instruction, annotate):
    _project, inst = _setup(db, make_user, make_project, make_instruction, annotate)
    a, b, c = (x.id for x in inst.candidates)
    reviewer = make_user("reviewer")
    login(client, reviewer.email)
    token = csrf_from(client)

    resp = client.post(f"/review/{inst.id}/approve", data={"csrftoken": token, "final_response": "Final.",
                                                          "ranking": [str(c), str(b), str(a)]},
                       follow_redirects=False)
    assert resp.status_code == 303
    approval = db.query(Approval).filter_by(instruction_id=inst.id).one()
    assert approval.final_response == "Final." and approval.ranking == [[c], [b], [a]]
    assert approval.method.value == "adjudicated" and approval.approved_by_id == reviewer.id

    ann_id = approval.annotation_ids[0]
    resp = client.post(f"/review/{inst.id}/accept", data={"csrftoken": token, "annotation_id": str(ann_id)},
                       follow_redirects=False)
    assert resp.status_code == 303
    db.refresh(approval)
    assert approval.method.value == "accepted" and approval.final_response == "Longer, better answer."

    empty = client.post(f"/review/{inst.id}/approve", data={"csrftoken": token, "final_response": "  "})
    assert empty.status_code == 422 and "The final response is empty." in empty.text

    resp = client.post(f"/review/{inst.id}/reject", data={"csrftoken": token}, follow_redirects=False)
    assert resp.status_code == 303
    db.refresh(inst)
    assert inst.status == InstructionStatus.rejected


def test_api_approve(client, db, make_user, make_project, make_instruction, annotate, token_for):
    project, inst = _setup(db, make_user, make_project, make_instruction, annotate)
    a, b, c = (x.id for x in inst.candidates)
    reviewer = token_for(make_user("reviewer"))

    resp = client.post(f"/api/v1/instructions/{inst.id}/approve", json={}, headers=reviewer)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["ranking"] == [[b], [a, c]] and body["final_response"] == "Longer, better answer."
    assert body["method"] == "api" and [b, a] in body["preference_pairs"]
    assert client.get(f"/api/v1/instructions/{inst.id}/approval", headers=reviewer).json() == body
    shown = client.get(f"/api/v1/instructions/{inst.id}", headers=reviewer).json()["approval"]
    assert shown["final_response"] == body["final_response"] and shown["ranking"] == body["ranking"]

    fresh = make_instruction(project, text="Nobody annotated me.")
    db.commit()  # an error answer rolls the request's session back; keep the setup
    conflict = client.post(f"/api/v1/instructions/{fresh.id}/approve", json={}, headers=reviewer)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    assert client.get(f"/api/v1/instructions/{fresh.id}/approval", headers=reviewer).status_code == 404
    written = client.post(f"/api/v1/instructions/{fresh.id}/approve", json={"final_response": "Mine."},
                          headers=reviewer)
    assert written.status_code == 200 and written.json()["final_response"] == "Mine."

    extra = client.post(f"/api/v1/instructions/{inst.id}/approve", json={"nope": 1}, headers=reviewer)
    assert extra.status_code == 422 and extra.json()["error"]["details"][0]["field"] == "nope"
    missing = client.post("/api/v1/instructions/999999/approve", json={}, headers=reviewer)
    assert missing.status_code == 404

    annotator = token_for(make_user("annotator"))
    refused = client.post(f"/api/v1/instructions/{inst.id}/approve", json={}, headers=annotator)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert re.search("reviewer", refused.json()["error"]["message"])


def test_admins_see_per_annotator_figures(client, db, make_user, make_project, make_instruction, annotate):
    project, _inst = _setup(db, make_user, make_project, make_instruction, annotate)
    login(client, make_user("admin").email)
    page = client.get("/review", params={"project": project.slug, "status": ""})
    assert "τ with consensus" in page.text
    assert page.text.count("@example.com") >= 2 and "ann1@example.com" in page.text
