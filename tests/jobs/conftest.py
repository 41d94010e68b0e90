"""Jobs on a committed database, run by the engine in this process or by real workers, against a scripted server."""

from __future__ import annotations

import secrets

import pytest

from tests.support.openai_server import ScriptedServer


@pytest.fixture
def scripted():
    """A scripted OpenAI-compatible server; set `.script` to change what it answers."""
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def seeded(live):
    """A committed admin, a project with 12 pending instructions, and a factory for backends."""
    from app.core.db import get_sessionmaker
    from app.models import Backend, Instruction, Project
    from app.users.service import create_user

    maker = get_sessionmaker()
    with maker() as session:
        admin = create_user(session, email=f"admin-{secrets.token_hex(3)}@example.com",
                            password="correct horse battery", role="admin")
        project = Project(name="Jobs", slug=f"jobs-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        session.add_all(Instruction(project_id=project.id, instruction=f"Question number {i}", content_hash=f"h{i}")
                        for i in range(12))
        session.commit()
        ids = {"admin": admin.id, "project": project.id, "slug": project.slug}

    def backend(name: str, url: str, **limits) -> None:
        with maker() as session:
            session.add(Backend(name=name, kind="openai", base_url=url, model="teacher-1", limits=limits))
            session.commit()

    ids["backend"] = backend
    return ids


def create(seeded, kind: str, params: dict):
    """A queued job created through the service, committed."""
    from app.core.db import get_sessionmaker
    from app.jobs.service import create_job
    from app.models import User

    with get_sessionmaker()() as session:
        job = create_job(session, user=session.get(User, seeded["admin"]), project_slug=seeded["slug"],
                         kind_name=kind, params=params)
        session.commit()
        return job.id
