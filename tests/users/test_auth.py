"""Browser sign-in, sessions, CSRF, roles and API tokens."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import ApiToken, Role
from tests.conftest import csrf_from, login


def test_sign_in_shows_home_and_sets_safe_cookie(client, make_user):
    user = make_user("reviewer", email="rev@example.com")
    page = client.get("/login")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    resp = client.post("/login", data={"email": "REV@example.com", "password": "correct horse battery",
                                       "csrftoken": token}, follow_redirects=False)
    assert resp.status_code == 303
    cookie = next(v for k, v in resp.headers.multi_items() if k == "set-cookie" and "tuneloop_session" in v)
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    home = client.get("/")
    assert home.status_code == 200
    assert user.email in home.text and "reviewer" in home.text


def test_wrong_password_is_refused_without_saying_which_part(client, make_user):
    make_user("annotator", email="ann@example.com")
    page = client.get("/login")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    resp = client.post("/login", data={"email": "ann@example.com", "password": "nope", "csrftoken": token})
    assert resp.status_code == 401
    assert "Wrong e-mail or password" in resp.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_pages_redirect_to_login_when_signed_out(client):
    resp = client.get("/", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


def test_login_form_without_csrf_token_is_refused(client, make_user):
    make_user("annotator", email="x@example.com")
    client.get("/login")  # sets the CSRF cookie
    resp = client.post("/login", data={"email": "x@example.com", "password": "correct horse battery"})
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "csrf_failed"


def test_logout_needs_csrf_and_ends_session(client, make_user):
    user = make_user("annotator")
    login(client, user.email)
    assert client.post("/logout", follow_redirects=False).status_code == 403
    resp = client.post("/logout", headers={"X-CSRFToken": csrf_from(client)}, follow_redirects=False)
    assert resp.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_is_rate_limited(client, make_user, monkeypatch):
    from app.core.config import get_settings
    from app.users.ratelimit import reset

    monkeypatch.setattr(get_settings(), "login_rate_limit", "3/minute")
    reset()
    make_user("annotator", email="victim@example.com")
    page = client.get("/login")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    codes = [client.post("/login", data={"email": "victim@example.com", "password": f"guess{i}",
                                         "csrftoken": token}).status_code for i in range(5)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]


def test_open_redirect_after_login_is_refused(client, make_user):
    user = make_user("annotator")
    page = client.get("/login")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    resp = client.post("/login", data={"email": user.email, "password": "correct horse battery",
                                       "next": "//evil.example.com/", "csrftoken": token}, follow_redirects=False)
    assert resp.headers["location"] == "/"


def test_api_token_is_stored_hashed_and_revocation_is_immediate(db, client, make_user, token_for):
    from app.users.service import revoke_token

    user = make_user("admin")
    headers = token_for(user)
    secret = headers["Authorization"].split()[1]
    stored = db.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert secret not in (stored.token_hash, stored.prefix) and secret.startswith(stored.prefix)
    assert client.get("/api/v1/me", headers=headers).json()["email"] == user.email
    revoke_token(db, token_id=stored.id, by=user)
    db.flush()
    resp = client.get("/api/v1/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"


def test_deactivated_user_loses_session(db, client, make_user):
    user = make_user("annotator")
    login(client, user.email)
    assert client.get("/").status_code == 200
    user.is_active = False
    db.flush()
    assert client.get("/", follow_redirects=False).status_code == 303


def test_role_order():
    assert Role.admin.rank > Role.reviewer.rank > Role.annotator.rank


def test_multipart_form_carries_its_csrf_token_in_the_body(client, make_user):
    user = make_user("annotator")
    login(client, user.email)
    token = csrf_from(client)
    # A form upload without JavaScript: the token is a form field, not a header.
    ok = client.post("/logout", data={"csrftoken": token}, files={"f": ("a.txt", b"x" * 1000)},
                     follow_redirects=False)
    assert ok.status_code == 303
    login(client, user.email)
    bad = client.post("/logout", data={"csrftoken": "forged"}, files={"f": ("a.txt", b"x")}, follow_redirects=False)
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "csrf_failed"
    missing = client.post("/logout", files={"f": ("a.txt", b"x")}, follow_redirects=False)
    assert missing.status_code == 403


def test_multipart_with_a_forged_cookie_and_field_is_refused(client, make_user):
    user = make_user("annotator")
    login(client, user.email)
    client.cookies.set("csrftoken", "forged")
    resp = client.post("/logout", data={"csrftoken": "forged"}, files={"f": ("a.txt", b"x")}, follow_redirects=False)
    assert resp.status_code == 403
