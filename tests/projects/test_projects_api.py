"""Projects REST: create (admin), derived and validated slugs, settings merged and checked, counts, patch."""

from __future__ import annotations

import pytest


def test_admin_creates_a_project_with_a_derived_slug_and_default_settings(client, admin_headers):
    resp = client.post("/api/v1/projects", json={"name": "Support Bot — v2!", "guidelines": "# Rank by *helpfulness*"},
                       headers=admin_headers)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["slug"] == "support-bot-v2"
    assert body["guidelines"] == "# Rank by *helpfulness*"
    assert body["settings"]["min_submitted"] == 1 and body["settings"]["rating_scale"] == "1-5"
    assert body["settings"]["auto_approve"] is None
    assert body["counts"] == {"pending": 0, "submitted": 0, "approved": 0, "rejected": 0, "total": 0}


def test_settings_are_merged_over_the_defaults(client, admin_headers):
    resp = client.post("/api/v1/projects", json={"name": "Overlap", "slug": "overlap", "settings": {
        "min_submitted": 3, "rating_scale": "A-D", "auto_approve": {"min_annotations": 3, "min_top1_agreement": 0.67}}},
        headers=admin_headers)
    assert resp.status_code == 201, resp.text
    settings = resp.json()["settings"]
    assert settings["min_submitted"] == 3 and settings["rating_scale"] == "A-D"
    assert settings["auto_approve"] == {"min_annotations": 3, "min_top1_agreement": 0.67}
    assert settings["reservation_minutes"] == 30  # a default kept


@pytest.mark.parametrize("payload, field", [
    ({"name": "x", "slug": "Bad Slug"}, "slug"),
    ({"name": "x", "slug": "-x"}, "slug"),
    ({"name": "   "}, "name"),
    ({"name": "x", "settings": {"min_submitted": 0}}, "settings.min_submitted"),
    ({"name": "x", "settings": {"min_submitted": 21}}, "settings.min_submitted"),
    ({"name": "x", "settings": {"rating_scale": "1-7"}}, "settings.rating_scale"),
    ({"name": "x", "settings": {"auto_approve": {"min_annotations": 0, "min_top1_agreement": 0.5}}},
     "settings.auto_approve.min_annotations"),
    ({"name": "x", "settings": {"auto_approve": {"min_annotations": 2, "min_top1_agreement": 1.5}}},
     "settings.auto_approve.min_top1_agreement"),
    ({"name": "x", "settings": {"colour": "blue"}}, "settings.colour"),
    ({"name": "x", "owner": "me"}, "owner"),
])
def test_invalid_projects_are_refused_naming_the_field(client, admin_headers, payload, field):
    resp = client.post("/api/v1/projects", json=payload, headers=admin_headers)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]]


def test_a_name_without_letters_needs_an_explicit_slug(client, admin_headers):
    resp = client.post("/api/v1/projects", json={"name": "!!!"}, headers=admin_headers)
    assert resp.status_code == 422
    assert resp.json()["error"]["details"][0]["field"] == "slug"


def test_duplicate_slug_is_a_conflict(client, admin_headers, db):
    db.commit()
    assert client.post("/api/v1/projects", json={"name": "Twice"}, headers=admin_headers).status_code == 201
    resp = client.post("/api/v1/projects", json={"name": "Other", "slug": "twice"}, headers=admin_headers)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "conflict"


def test_only_admins_create_or_change_projects(client, make_user, token_for, admin_headers, db):
    reviewer = token_for(make_user("reviewer"))
    db.commit()  # a refused request rolls the test session back; keep the users
    assert client.post("/api/v1/projects", json={"name": "No"}, headers=reviewer).status_code == 403
    assert client.post("/api/v1/projects", json={"name": "No"}).status_code == 401
    client.post("/api/v1/projects", json={"name": "Mine"}, headers=admin_headers)
    assert client.patch("/api/v1/projects/mine", json={"name": "Yours"}, headers=reviewer).status_code == 403
    assert client.get("/api/v1/projects/mine", headers=reviewer).status_code == 200


def test_list_and_get_count_instructions_by_status(client, admin_headers, db):
    from sqlalchemy import update

    from app.models import Instruction, InstructionStatus

    client.post("/api/v1/projects", json={"name": "Counted"}, headers=admin_headers)
    client.post("/api/v1/projects", json={"name": "Empty"}, headers=admin_headers)
    items = [{"external_id": str(i), "instruction": f"task {i}"} for i in range(5)]
    resp = client.post("/api/v1/projects/counted/instructions", json={"items": items}, headers=admin_headers)
    ids = resp.json()["ids"]
    db.execute(update(Instruction).where(Instruction.id.in_(ids[:2])).values(status=InstructionStatus.approved))
    one = client.get("/api/v1/projects/counted", headers=admin_headers).json()
    assert one["counts"] == {"pending": 3, "submitted": 0, "approved": 2, "rejected": 0, "total": 5}
    projects = client.get("/api/v1/projects", headers=admin_headers).json()["items"]
    listed = {p["slug"]: p["counts"]["total"] for p in projects}
    assert listed["counted"] == 5 and listed["empty"] == 0


def test_patch_changes_name_guidelines_and_merges_settings(client, admin_headers, db):
    db.commit()
    client.post("/api/v1/projects", json={"name": "Patchy", "settings": {"min_submitted": 2}}, headers=admin_headers)
    resp = client.patch("/api/v1/projects/patchy", headers=admin_headers, json={
        "name": "Patched", "guidelines": "New rules", "settings": {"rating_scale": "A-D"}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["name"] == "Patched" and body["guidelines"] == "New rules" and body["slug"] == "patchy"
    assert body["settings"]["rating_scale"] == "A-D" and body["settings"]["min_submitted"] == 2
    off = client.patch("/api/v1/projects/patchy", headers=admin_headers,
                       json={"settings": {"auto_approve": {"min_annotations": 2, "min_top1_agreement": 0.5}}})
    assert off.json()["settings"]["auto_approve"]["min_annotations"] == 2
    cleared = client.patch("/api/v1/projects/patchy", headers=admin_headers, json={"settings": {"auto_approve": None}})
    assert cleared.json()["settings"]["auto_approve"] is None
    bad = client.patch("/api/v1/projects/patchy", headers=admin_headers, json={"settings": {"min_submitted": 0}})
    assert bad.status_code == 422


def test_unknown_project_is_a_json_404(client, admin_headers, db):
    db.commit()
    resp = client.get("/api/v1/projects/nope", headers=admin_headers)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    assert client.patch("/api/v1/projects/nope", json={"name": "x"}, headers=admin_headers).status_code == 404
