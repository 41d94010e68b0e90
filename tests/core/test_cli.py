"""The `tuneloop` command as API.md describes it, run as a real subprocess against a real database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from app.core.security import hash_api_token


def _run(args: list[str], database_url: str, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "TUNELOOP_DATABASE_URL": database_url, **env}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=full_env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def committed(live):
    return live


def test_user_and_token_create_print_the_token_alone_on_the_last_line(committed):
    out = _run(["user", "create", "--email", "Pat@Example.com", "--password", "s3cret-pass", "--role", "reviewer"],
               committed)
    assert out.returncode == 0, out.stderr
    assert "reviewer pat@example.com" in out.stdout
    tok = _run(["token", "create", "--user", "pat@example.com", "--name", "ci"], committed)
    assert tok.returncode == 0, tok.stderr
    secret = tok.stdout.strip().splitlines()[-1]
    assert secret.startswith("tl_") and " " not in secret
    engine = sa.create_engine(committed)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash, name FROM api_tokens")).one()
    engine.dispose()
    assert stored.token_hash == hash_api_token(secret) and stored.name == "ci"


def test_user_create_refuses_bad_input_with_clear_errors(committed):
    short = _run(["user", "create", "--email", "a@b.c", "--password", "short", "--role", "admin"], committed)
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    role = _run(["user", "create", "--email", "a@b.c", "--password", "longenough", "--role", "boss"], committed)
    assert role.returncode == 1 and "Unknown role 'boss'" in role.stderr
    ok = _run(["user", "create", "--email", "a@b.c", "--password", "longenough"], committed)
    assert ok.returncode == 0
    dup = _run(["user", "create", "--email", "A@b.c", "--password", "longenough"], committed)
    assert dup.returncode == 1 and "already exists" in dup.stderr


def test_token_for_unknown_user_fails(committed):
    out = _run(["token", "create", "--user", "ghost@example.com"], committed)
    assert out.returncode == 1 and "No user with e-mail ghost@example.com" in out.stderr


def test_first_admin_bootstrap_uses_env_or_prints_a_generated_password(committed):
    engine = sa.create_engine(committed)
    code = "from app.cli import bootstrap_admin; bootstrap_admin(); bootstrap_admin()"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TUNELOOP_DATABASE_URL": committed},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("Created the first admin") == 1  # a second start creates nothing
    password = out.stdout.split("password:")[1].split()[0]
    with engine.connect() as conn:
        role, pw_hash = conn.execute(sa.text("SELECT role, password_hash FROM users")).one()
    engine.dispose()
    from app.core.security import verify_password

    assert role == "admin" and verify_password(pw_hash, password)


def test_migrate_command_is_idempotent(committed):
    out = _run(["migrate"], committed)
    assert out.returncode == 0 and "up to date" in out.stdout
