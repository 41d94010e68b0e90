"""A committed project of near-duplicate pairs, an evaluation item that one of them leaks into, and a scripted
server that embeds (bag of words) and judges (5 for the rephrased items, 3 for the others)."""

from __future__ import annotations

import secrets

import pytest

from tests.support.openai_server import ScriptedServer, chat_reply, last_user_text

TOPICS = 10


def base_text(topic: int) -> str:
    return " ".join(f"w{topic}x{k}" for k in range(7))


def variant_text(topic: int) -> str:
    """The base with one word more: cosine 7 / sqrt(56), about 0.935, to it (a near-duplicate at 0.9)."""
    return base_text(topic) + f" extra{topic}"


def judge(path, body, headers):
    if path.endswith("/embeddings"):
        return None
    text = last_user_text(body)
    if "REFUSE" in text:
        return chat_reply("I'm sorry, but I cannot rate this response.")
    return chat_reply("5\nClear and correct." if " extra" in text else "3\nAdequate.")


@pytest.fixture
def scripted():
    with ScriptedServer(judge) as server:
        yield server


@pytest.fixture
def curation_project(live, scripted):
    """Ten topics, each a base instruction and a near-duplicate rephrasing (train, approved), and an eval-split
    item that is a near-duplicate of topic 0's base (so that base leaks). Backend 'teacher' embeds and judges."""
    from app.core.db import get_sessionmaker
    from app.models import Backend, Instruction, Project
    from app.users.service import create_user
    from tests.exports.conftest import add_approved

    with get_sessionmaker()() as session:
        admin = create_user(session, email=f"admin-{secrets.token_hex(3)}@example.com",
                            password="correct horse battery", role="admin")
        project = Project(name="Curation", slug=f"cur-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        ids = {}
        for topic in range(TOPICS):
            for name, text in (("base", base_text(topic)), ("variant", variant_text(topic))):
                inst, _, _ = add_approved(session, project, instruction=text, candidates=[f"answer to {text}"])
                ids[(topic, name)] = inst.id
        evaluation = Instruction(project_id=project.id, instruction=base_text(0) + " evalonly", split="eval",
                                 content_hash="eval-0")
        session.add(evaluation)
        session.add(Backend(name="teacher", kind="openai", base_url=scripted.url, model="judge-1",
                            limits={"max_concurrency": 4, "max_retries": 0}))
        session.commit()
        return {"admin": admin.id, "project": project.id, "slug": project.slug, "ids": ids,
                "evaluation": evaluation.id}


def create_job(seed, kind: str, params: dict) -> int:
    from app.core.db import get_sessionmaker
    from app.jobs.service import create_job as create
    from app.models import User

    with get_sessionmaker()() as session:
        job = create(session, user=session.get(User, seed["admin"]), project_slug=seed["slug"], kind_name=kind,
                     params=params)
        session.commit()
        return job.id


def job(job_id: int):
    from app.core.db import get_sessionmaker
    from app.models import Job

    with get_sessionmaker()() as session:
        return session.get(Job, job_id)


@pytest.fixture
def client_for_live(curation_project):
    """The app on the live database, signed in as the project's admin with a bearer token."""
    from fastapi.testclient import TestClient

    from app.core.db import get_sessionmaker
    from app.main import create_app
    from app.models import User
    from app.users.service import create_token

    with get_sessionmaker()() as session:
        token = create_token(session, user=session.get(User, curation_project["admin"]), name="t").secret
        session.commit()
    with TestClient(create_app(), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
