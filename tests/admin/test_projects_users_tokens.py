"""Admin pages: projects, users and roles, API tokens; through the real app on both databases."""

from __future__ import annotations

import re

from app.models import ApiToken, Project, Role, User
from tests.conftest import csrf_from, login


def _admin(client, make_user):
    admin = make_user("admin")
    login(client, admin.email)
    return admin, csrf_from(client)


def test_create_and_edit_project(client, db, make_user):
    _admin_user, token = _admin(client, make_user)
    assert client.get("/admin/projects").status_code == 200
    assert client.get("/admin/projects/new").status_code == 200

    bad = client.post("/admin/projects/new", data={"csrftoken": token, "name": "  ", "min_submitted": "0"})
    assert bad.status_code == 422
    assert 'id="err-name"' in bad.text and 'id="err-min_submitted"' in bad.text

    resp = client.post("/admin/projects/new", data={
        "csrftoken": token, "name": "Support bot", "slug": "", "guidelines": "# Rules\nBe **kind**.",
        "min_submitted": "2", "rating_scale": "A-D", "require_ranking": "on", "reservation_minutes": "20",
        "auto_approve": "on", "min_annotations": "2", "min_top1_agreement": "0.75"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/admin/projects/support-bot?done=created"
    project = db.query(Project).filter_by(slug="support-bot").one()
    assert project.setting("rating_scale") == "A-D" and project.setting("hide_others") is False
    assert project.setting("auto_approve") == {"min_annotations": 2, "min_top1_agreement": 0.75}

    page = client.get("/admin/projects/support-bot")
    assert "<strong>kind</strong>" in page.text and 'value="0.75"' in page.text

    taken = client.post("/admin/projects/new", data={"csrftoken": token, "name": "Support bot"})
    assert taken.status_code == 409 and "exists already" in taken.text

    resp = client.post("/admin/projects/support-bot", data={
        "csrftoken": token, "name": "Support bot v2", "guidelines": "New.", "min_submitted": "1",
        "rating_scale": "1-5", "reservation_minutes": "30", "min_annotations": "2", "min_top1_agreement": "1"},
        follow_redirects=False)
    assert resp.status_code == 303
    db.refresh(project)
    assert project.name == "Support bot v2" and project.setting("auto_approve") is None
    assert project.setting("require_ranking") is False

    preview = client.post("/admin/projects/-/preview", data={"guidelines": "[x](javascript:alert(1)) *hi*"},
                          headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert "<em>hi</em>" in preview.text and "href=\"javascript" not in preview.text.lower()


def test_users_roles_and_deactivation(client, db, make_user):
    admin, token = _admin(client, make_user)
    resp = client.post("/admin/users", data={"csrftoken": token, "email": "new@example.com", "name": "New",
                                             "password": "long enough pw", "role": "reviewer"},
                       follow_redirects=False)
    assert resp.status_code == 303
    new = db.query(User).filter_by(email="new@example.com").one()
    assert new.role == Role.reviewer

    short = client.post("/admin/users", data={"csrftoken": token, "email": "x@example.com", "password": "short",
                                               "role": "annotator"})
    assert short.status_code == 422 and "at least 8 characters" in short.text
    dup = client.post("/admin/users", data={"csrftoken": token, "email": "new@example.com",
                                            "password": "long enough pw", "role": "annotator"})
    assert dup.status_code == 409 and "already exists" in dup.text

    assert client.post(f"/admin/users/{new.id}/role", data={"csrftoken": token, "role": "annotator"},
                       follow_redirects=False).status_code == 303
    db.refresh(new)
    assert new.role == Role.annotator
    bad_role = client.post(f"/admin/users/{new.id}/role", data={"csrftoken": token, "role": "king"})
    assert bad_role.status_code == 422 and "Unknown role" in bad_role.text

    for other in db.query(User).filter(User.role == Role.admin, User.id != admin.id):
        other.role = Role.reviewer
    db.commit()
    last = client.post(f"/admin/users/{admin.id}/role", data={"csrftoken": token, "role": "reviewer"})
    assert last.status_code == 409 and "last active admin" in last.text
    self_off = client.post(f"/admin/users/{admin.id}/active", data={"csrftoken": token, "active": "0"})
    assert self_off.status_code == 409

    assert client.post(f"/admin/users/{new.id}/active", data={"csrftoken": token, "active": "0"},
                       follow_redirects=False).status_code == 303
    db.refresh(new)
    assert new.is_active is False
    assert client.post("/admin/users/999999/active", data={"csrftoken": token, "active": "1"}).status_code == 404


def test_tokens_shown_once_and_revoked(client, db, make_user):
    _admin_user, token = _admin(client, make_user)
    reviewer = make_user("reviewer")
    db.commit()
    resp = client.post("/admin/tokens", data={"csrftoken": token, "user_id": str(reviewer.id), "name": "pipeline"})
    assert resp.status_code == 201 and resp.headers["cache-control"] == "no-store"
    secret = re.search(r'data-testid="secret">([^<]+)<', resp.text).group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()["role"] == "reviewer"

    listing = client.get("/admin/tokens")
    assert secret not in listing.text and secret[:10] in listing.text and "pipeline" in listing.text

    stored = db.query(ApiToken).filter_by(name="pipeline").one()
    assert client.post(f"/admin/tokens/{stored.id}/revoke", data={"csrftoken": token},
                       follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_first_hour_touches(client, db, make_user):
    """Issue 10: a new project points to importing data; an admin resets a password; the favicon answers."""
    admin, token = _admin(client, make_user)
    resp = client.post("/admin/projects/new", data={"csrftoken": token, "name": "Fresh start", "min_submitted": "1",
                                                    "reservation_minutes": "30"}, follow_redirects=False)
    page = client.get(resp.headers["location"])
    assert 'data-testid="next-step"' in page.text and 'href="/admin/imports?project=fresh-start"' in page.text
    imports = client.get("/admin/imports", params={"project": "fresh-start"})
    assert '<option value="fresh-start" selected>' in imports.text

    forgetful = make_user("annotator", email="forgetful@example.com", password="old password here")
    db.commit()
    short = client.post(f"/admin/users/{forgetful.id}/password", data={"csrftoken": token, "password": "short"})
    assert short.status_code == 422 and 'data-error="password"' in short.text and "at least 8" in short.text
    done = client.post(f"/admin/users/{forgetful.id}/password",
                       data={"csrftoken": token, "password": "a brand new one"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/admin/users?done=password"
    client.post("/logout", headers={"X-CSRFToken": csrf_from(client)})
    login(client, "forgetful@example.com", "a brand new one")  # the new password signs in
    assert client.post(f"/admin/users/{admin.id}/password", headers={"X-CSRFToken": csrf_from(client)},
                       data={"password": "takeover!!"}).status_code == 403

    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert 'rel="icon"' in client.get("/login").text
