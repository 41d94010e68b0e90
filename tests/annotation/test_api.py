"""REST: the queue endpoints and POST /api/v1/instructions/{id}/annotations, validated like the UI."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Annotation, AnnotationStatus, Instruction, InstructionStatus


def test_push_creates_then_updates_and_validates(client, db, make_user, make_project, token_for):
    project = make_project(n=1)
    user = make_user()
    headers = token_for(user)
    instruction = db.scalars(select(Instruction).where(Instruction.project_id == project.id)).first()
    ids = [c.id for c in instruction.candidates]
    body = {"ranking": [ids[1], ids[0], ids[2]], "ratings": {str(ids[1]): 5}, "flags": ["unsafe"],
            "correction": "Better answer", "comment": "from the field"}
    resp = client.post(f"/api/v1/instructions/{instruction.id}/annotations", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["status"] == "submitted" and out["ranking"] == body["ranking"] and out["user_id"] == user.id
    assert out["ratings"] == {str(ids[1]): 5} and out["correction"] == "Better answer"
    assert instruction.status == InstructionStatus.submitted
    again = client.post(f"/api/v1/instructions/{instruction.id}/annotations", json={**body, "comment": "second"},
                        headers=headers)
    assert again.status_code == 200 and again.json()["id"] == out["id"] and again.json()["comment"] == "second"


def test_push_names_every_bad_field(client, db, make_user, make_project, token_for):
    project = make_project(n=1)
    instruction = db.scalars(select(Instruction).where(Instruction.project_id == project.id)).first()
    ids = [c.id for c in instruction.candidates]
    headers = token_for(make_user())
    db.commit()  # a refused request rolls its session back; the setup must outlive it
    resp = client.post(f"/api/v1/instructions/{instruction.id}/annotations", headers=headers, json={
        "ranking": [ids[0], ids[0], ids[1]], "ratings": {str(ids[0]): 9, "999999": 1}, "flags": ["weird"],
        "correction": ""})
    assert resp.status_code == 422
    err = resp.json()["error"]
    fields = {d["field"] for d in err["details"]}
    assert {"ranking", f"ratings.{ids[0]}", "ratings.999999", "flags", "correction"} <= fields
    assert "ties are not allowed" in err["message"]
    assert db.query(Annotation).filter_by(instruction_id=instruction.id).count() == 0
    stranger = client.post(f"/api/v1/instructions/{instruction.id}/annotations", headers=headers,
                           json={"ranking": [ids[0], ids[1], 424242]})
    assert stranger.status_code == 422 and "do not belong" in stranger.json()["error"]["message"]
    extra = client.post(f"/api/v1/instructions/{instruction.id}/annotations", headers=headers, json={"rank": []})
    assert extra.status_code == 422 and extra.json()["error"]["code"] == "validation_error"
    assert client.post("/api/v1/instructions/987654321/annotations", headers=headers,
                       json={}).status_code == 404
    assert client.post(f"/api/v1/instructions/{instruction.id}/annotations", json={}).status_code == 401


def test_queue_api_next_submit_skip(client, db, make_user, make_project, token_for):
    project = make_project(n=2)
    headers = token_for(make_user())
    db.commit()  # a refused request rolls its session back; the setup must outlive it
    first = client.post(f"/api/v1/projects/{project.slug}/tasks/next", headers=headers)
    assert first.status_code == 200 and "Server-Timing" in first.headers
    task = first.json()
    assert len(task["instruction"]["candidates"]) == 3 and task["annotation"]["status"] == "in_progress"
    same = client.post(f"/api/v1/projects/{project.slug}/tasks/next", headers=headers).json()
    assert same["annotation"]["id"] == task["annotation"]["id"]
    ids = [c["id"] for c in task["instruction"]["candidates"]]
    aid = task["annotation"]["id"]
    partial = client.post(f"/api/v1/annotations/{aid}/submit", headers=headers, json={"ranking": ids[:2]})
    assert partial.status_code == 422 and "rank every candidate" in partial.json()["error"]["message"]
    ok = client.post(f"/api/v1/annotations/{aid}/submit", headers=headers, json={"all_bad": True})
    assert ok.status_code == 200 and ok.json()["status"] == "submitted"
    twice = client.post(f"/api/v1/annotations/{aid}/submit", headers=headers, json={"all_bad": True})
    assert twice.status_code == 409
    second = client.post(f"/api/v1/projects/{project.slug}/tasks/next", headers=headers).json()
    sid = second["annotation"]["id"]
    skipped = client.post(f"/api/v1/annotations/{sid}/skip", headers=headers, json={"reason": "unclear"})
    assert skipped.json()["status"] == "skipped"
    assert client.post(f"/api/v1/projects/{project.slug}/tasks/next", headers=headers).status_code == 204
    assert db.get(Annotation, sid).status == AnnotationStatus.skipped


def test_someone_elses_annotation_is_not_found(client, db, make_user, make_project, token_for):
    project = make_project(n=1)
    owner = token_for(make_user())
    aid = client.post(f"/api/v1/projects/{project.slug}/tasks/next", headers=owner).json()["annotation"]["id"]
    other = token_for(make_user())
    db.commit()
    resp = client.post(f"/api/v1/annotations/{aid}/submit", headers=other, json={"all_bad": True})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_out_of_range_ids_are_a_422_not_a_crash(client, db, make_user, token_for):
    headers = token_for(make_user())
    db.commit()
    for path in ("/api/v1/annotations/99999999999999999999/submit", "/api/v1/instructions/0/annotations"):
        resp = client.post(path, headers=headers, json={})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "validation_error"


def test_times_carry_the_utc_offset(client, db, make_user, make_project, token_for):
    project = make_project(n=1)
    headers = token_for(make_user())
    task = client.post(f"/api/v1/projects/{project.slug}/tasks/next", headers=headers).json()
    assert task["annotation"]["reserved_until"].endswith(("+00:00", "Z"))
    assert task["annotation"]["created_at"].endswith(("+00:00", "Z"))
