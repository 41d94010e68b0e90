"""Backends against real HTTP servers: the scripted OpenAI-compatible server of tests/support, and the jobs'
fixtures (a committed project with instructions) for faults seen through real jobs."""

from __future__ import annotations

import pytest

from tests.jobs.conftest import scripted, seeded  # noqa: F401  (the same fixtures, for this folder too)


@pytest.fixture
def admin_headers(make_user, token_for, db):
    """An admin's token, committed: a refused request rolls its session back, and the admin must outlive it."""
    headers = token_for(make_user("admin"))
    db.commit()
    return headers
