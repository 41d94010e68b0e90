"""Evaluation fixtures: a committed project whose instructions have references and a baseline model's imported
answers, frozen into an evaluation set; backends on a scripted OpenAI-compatible server."""

from __future__ import annotations

import secrets

import pytest

from tests.support.openai_server import ScriptedServer

N_MEMBERS = 9  # instruction 8 has no baseline answer: a missing answer


@pytest.fixture
def scripted():
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def evalproject(live):
    """Admin, project, set 'core' of N_MEMBERS tasks ('Task i: ...'), imported 'base' answers for all but the last."""
    from app.core.db import get_sessionmaker
    from app.evaluation.sets import create_set
    from app.instructions.selection import InstructionFilter
    from app.models import Backend, Candidate, Instruction, Project
    from app.users.service import create_user

    maker = get_sessionmaker()
    with maker() as session:
        admin = create_user(session, email=f"admin-{secrets.token_hex(3)}@example.com",
                            password="correct horse battery", role="admin")
        project = Project(name="Evals", slug=f"evals-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        for i in range(N_MEMBERS):
            inst = Instruction(project_id=project.id, instruction=f"Task {i}: describe the number {i}",
                               content_hash=f"e{i}", meta={"is_classification": i % 3 == 0})
            session.add(inst)
            session.flush()
            session.add(Candidate(instruction_id=inst.id, text=f"the number {i} is small", origin="reference"))
            if i < N_MEMBERS - 1:
                session.add(Candidate(instruction_id=inst.id, text=f"base says {i}" + " padding" * (i % 4),
                                      model="base", origin="imported"))
        session.flush()
        found = create_set(session, project=project, name="core", rules=InstructionFilter())
        session.commit()
        ids = {"admin": admin.id, "admin_email": admin.email, "project": project.id, "slug": project.slug,
               "set_id": found.id}

    def backend(name: str, url: str, model: str = "m-1", **limits) -> None:
        with maker() as session:
            session.add(Backend(name=name, kind="openai", base_url=url, model=model,
                                limits={"max_retries": 0, **limits}))
            session.commit()

    ids["backend"] = backend
    return ids


def create(evalproject, kind: str, params: dict) -> int:
    from app.core.db import get_sessionmaker
    from app.jobs.service import create_job
    from app.models import User

    with get_sessionmaker()() as session:
        job = create_job(session, user=session.get(User, evalproject["admin"]), project_slug=evalproject["slug"],
                         kind_name=kind, params=params)
        session.commit()
        return job.id


def job_row(job_id: int):
    from app.core.db import get_sessionmaker
    from app.models import Job

    with get_sessionmaker()() as session:
        return session.get(Job, job_id)
