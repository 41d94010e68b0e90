"""A committed project with ten human-written seed tasks (plus rows that must never seed), and a scripted teacher."""

from __future__ import annotations

import secrets

import pytest

from tests.support.openai_server import ScriptedServer

SEEDS = [
    "Give three tips for staying healthy.",
    "Translate the given sentence into Spanish.",
    "Write a limerick about a forgetful robot.",
    "Is the given number prime? Answer yes or no.",
    "Rewrite the paragraph so that a ten-year-old can follow it.",
    "List the steps needed to change a flat bicycle tire.",
    "Explain the difference between weather and climate.",
    "Detect whether the review below is positive or negative.",
    "Suggest a title for the blog post described below.",
    "Compute the average of the numbers in the list.",
]
NOT_A_SEED = "Describe the rules of chess in detail for a complete beginner."  # distilled, not human
EVAL_ONLY = "Plan a three-day itinerary for a first visit to Lisbon."  # evaluation-only: never a seed


@pytest.fixture
def scripted():
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def si_project(live):
    """Committed: an admin, a project with the seeds (each with a reference output), and a backend factory."""
    from app.core.db import get_sessionmaker
    from app.models import Backend, Candidate, Instruction, Project
    from app.users.service import create_user

    maker = get_sessionmaker()
    with maker() as session:
        admin = create_user(session, email=f"admin-{secrets.token_hex(3)}@example.com",
                            password="correct horse battery", role="admin")
        project = Project(name="Bootstrap", slug=f"boot-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        for i, text in enumerate(SEEDS):
            row = Instruction(project_id=project.id, instruction=text, content_hash=f"s{i}", source="seed_tasks",
                              meta={"is_classification": "Detect" in text or "prime" in text})
            row.candidates.append(Candidate(text=f"reference answer {i}", origin="reference"))
            session.add(row)
        session.add(Instruction(project_id=project.id, instruction=NOT_A_SEED, content_hash="d",
                                construction="distilled"))
        session.add(Instruction(project_id=project.id, instruction=EVAL_ONLY, content_hash="e",
                                evaluation_only=True))
        session.commit()
        ids = {"admin": admin.id, "project": project.id, "slug": project.slug}

    def backend(name: str, url: str, **limits) -> None:
        with maker() as session:
            session.add(Backend(name=name, kind="openai", base_url=url, model="teacher-1", limits=limits))
            session.commit()

    ids["backend"] = backend
    return ids


def create(ids, params: dict, kind: str = "self-instruct") -> int:
    from app.core.db import get_sessionmaker
    from app.jobs.service import create_job
    from app.models import User

    with get_sessionmaker()() as session:
        job = create_job(session, user=session.get(User, ids["admin"]), project_slug=ids["slug"], kind_name=kind,
                         params=params)
        session.commit()
        return job.id
