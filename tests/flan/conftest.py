"""Flan fixtures: a committed project with a source dataset and templates, and a way to run a render job."""

from __future__ import annotations

import secrets

import pytest

REVIEWS = [{"review": f"Review {i}: the soup was {['cold', 'great', 'fine'][i % 3]} and the bread {i}.",
            "label": i % 2, **({"title": f"Title {i}"} if i % 4 else {})} for i in range(24)]


@pytest.fixture
def flan_project(live):
    """A committed admin and project with the 'soups' dataset (24 records, task soup_sentiment, source Flan2021)."""
    from app.core.db import get_sessionmaker
    from app.datasets.service import create_dataset, records_of
    from app.models import Project
    from app.users.service import create_user

    with get_sessionmaker()() as session:
        admin = create_user(session, email=f"admin-{secrets.token_hex(3)}@example.com",
                            password="correct horse battery", role="admin")
        project = Project(name="Flan", slug=f"flan-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        create_dataset(session, project_slug=project.slug, name="soups", task="soup_sentiment", source="Flan2021",
                       rows=records_of(REVIEWS), user=admin)
        session.commit()
        return {"admin": admin.id, "slug": project.slug, "project": project.id}


def add_template(slug: str, **data) -> int:
    from app.core.db import get_sessionmaker
    from app.prompts.schemas import TemplateCreate
    from app.prompts.service import create_template

    with get_sessionmaker()() as session:
        template = create_template(session, project_slug=slug, data=TemplateCreate(task="soup_sentiment", **data),
                                   user=None)
        session.commit()
        return template.id


def render(setup, **params) -> int:
    """Create and run a render-templates job in this process; returns its id."""
    from app.core.db import get_sessionmaker
    from app.jobs.runner import run_job
    from app.jobs.service import create_job
    from app.models import User

    with get_sessionmaker()() as session:
        job = create_job(session, user=session.get(User, setup["admin"]), project_slug=setup["slug"],
                         kind_name="render-templates", params={"dataset": "soups", **params})
        session.commit()
        job_id = job.id
    run_job(job_id)
    return job_id
