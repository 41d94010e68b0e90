"""Sessions and tokens under attack: cookie flags, tampering, guessing, revocation and deactivation."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.reliability.conftest import PASSWORD, World, assert_error_shape, quick_user


def _sign_in(client, email: str, password: str = PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"email": email, "password": password, "csrftoken": token},
                       follow_redirects=False)


def _set_cookies(resp) -> dict[str, str]:
    return {v.split("=", 1)[0]: v.lower() for k, v in resp.headers.multi_items() if k == "set-cookie"}


def test_cookies_are_httponly_samesite_and_secure_behind_tls(world: World, db, monkeypatch):
    from app.core.config import get_settings
    from app.main import create_app

    monkeypatch.setattr(get_settings(), "cookie_secure", True)
    secure_app = create_app()  # reads cookie_secure when it is built
    secure_app.dependency_overrides = world.callers["admin_token"].client.app.dependency_overrides
    client = TestClient(secure_app, base_url="https://testserver", raise_server_exceptions=False)
    csrf = _set_cookies(client.get("/login"))["csrftoken"]
    assert "secure" in csrf and "samesite=lax" in csrf
    resp = _sign_in(client, world.users["annotator"].email)
    assert resp.status_code == 303
    cookies = _set_cookies(resp)
    session = cookies["tuneloop_session"]
    assert "httponly" in session and "samesite=lax" in session and "secure" in session
    assert "max-age=" in session  # sessions end; they are not forever


def test_a_tampered_or_forged_session_cookie_is_anonymous(world: World, app):
    from itsdangerous import TimestampSigner

    caller = world.callers["annotator"]
    assert caller.request("GET", "/").status_code == 200
    good = caller.cookies["tuneloop_session"]
    payload = good.split(".")[0]
    forged = TimestampSigner("not-the-secret").sign(payload).decode()
    for bad in (good[:-2] + ("AA" if not good.endswith("AA") else "BB"), forged, "x" * 5000, "", "%00%ff"):
        client = TestClient(app, raise_server_exceptions=False)
        client.cookies.set("tuneloop_session", bad)
        page = client.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login"), bad[:40]
        api = client.get("/api/v1/me")
        assert_error_shape(api, 401)


def test_guessing_is_throttled_per_address_even_across_emails(world: World, db, app, monkeypatch):
    from app.core.config import get_settings
    from app.users.ratelimit import reset

    monkeypatch.setattr(get_settings(), "login_rate_limit", "3/minute")
    reset()
    victim = quick_user(db, "admin")
    db.commit()
    client = TestClient(app, raise_server_exceptions=False)
    codes = [_sign_in(client, f"nobody{i}@example.com", "guess").status_code for i in range(3)]
    assert codes == [401, 401, 401]
    # Over the limit, even the right password for another account gets no session.
    resp = _sign_in(client, victim.email)
    assert resp.status_code == 429 and "tuneloop_session" not in _set_cookies(resp)
    assert client.get("/api/v1/me").status_code == 401


def test_revoked_token_and_deactivated_user_are_refused_at_once(world: World, db):
    from app.users.service import create_token, revoke_token

    user = world.users["reviewer"]
    issued = create_token(db, user=user, name="to-revoke")
    db.commit()
    anon = world.callers["anonymous"]
    bearer = {"Authorization": f"Bearer {issued.secret}"}
    assert anon.request("GET", "/api/v1/me", headers=bearer).status_code == 200
    revoke_token(db, token_id=issued.token.id, by=user)
    db.commit()
    assert_error_shape(anon.request("GET", "/api/v1/me", headers=bearer), 401)
    # Deactivation ends the user's tokens and browser sessions on their next request.
    session = world.callers["reviewer"]
    token = world.callers["admin_token"]
    assert session.request("GET", "/").status_code == 200
    admin = world.users["admin"]
    admin.is_active = False
    db.commit()
    assert_error_shape(token.request("GET", "/api/v1/me"), 401)
    user.is_active = False
    db.commit()
    assert session.request("GET", "/").status_code == 303


def test_malformed_authorization_headers_are_refused_cleanly(world: World):
    anon = world.callers["anonymous"]
    for value in ("Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer    ", "Bearer " + "a" * 20_000, "bearer %00%ff",
                  "Token abc", "Bearer tl_" + "0" * 40):
        resp = anon.request("GET", "/api/v1/me", headers={"Authorization": value})
        assert_error_shape(resp, 401)
