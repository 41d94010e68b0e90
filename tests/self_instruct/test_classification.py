"""Annotators correct the model's classification verdict on the tasks they annotate; reviewers on any."""

from __future__ import annotations

from app.models import Annotation, Instruction, Project
from tests.conftest import login


def _task(db):
    project = Project(name="Clf", slug="clf")
    db.add(project)
    db.flush()
    meta = {"is_classification": False, "task_id": "self-instruct-1-9", "most_similar": []}
    rows = [Instruction(project_id=project.id, instruction="Tell whether the review is positive.", input=f"r{i}",
                        content_hash=f"h{i}", source="self-instruct", meta=dict(meta)) for i in range(2)]
    db.add_all(rows)
    db.flush()
    return rows


def test_annotator_sets_it_on_their_task_and_every_instance_follows(client, db, make_user, token_for):
    first, second = _task(db)
    annotator, stranger = make_user("annotator"), make_user("annotator")
    db.add(Annotation(instruction_id=first.id, user_id=annotator.id))
    db.flush()
    resp = client.put(f"/api/v1/instructions/{first.id}/classification", json={"is_classification": True},
                      headers=token_for(annotator))
    assert resp.status_code == 200 and resp.json() == {"instruction_ids": [first.id, second.id],
                                                       "is_classification": True}
    db.expire_all()
    assert db.get(Instruction, second.id).meta["is_classification"] is True
    assert db.get(Instruction, second.id).meta["is_classification_set_by"] == annotator.id
    denied = client.put(f"/api/v1/instructions/{first.id}/classification", json={"is_classification": False},
                        headers=token_for(stranger))
    assert denied.status_code == 403 and "only on instructions they annotate" in denied.json()["error"]["message"]
    bad = client.put(f"/api/v1/instructions/{first.id}/classification", json={"is_classification": "yes"},
                     headers=token_for(make_user("reviewer")))
    assert bad.status_code == 422


def test_the_task_page_shows_the_toggle_and_it_saves(client, db, make_user):
    first, _ = _task(db)
    annotator = make_user("annotator")
    project = db.get(Project, first.project_id)
    login(client, annotator.email)
    page = client.get(f"/projects/{project.slug}/annotate")
    assert page.status_code == 200 and 'id="si-classification-' in page.text
    shown = int(page.text.split('id="si-classification-')[1].split('"')[0])
    csrf = page.text.split('"X-CSRFToken": "')[1].split('"')[0]
    resp = client.post(f"/instructions/{shown}/classification", data={"value": "yes"},
                       headers={"HX-Request": "true", "X-CSRFToken": csrf})
    assert resp.status_code == 200 and 'data-is-classification="yes"' in resp.text and "saved" in resp.text
