"""A bootstrap round with the tiny model as its generator, through a `local` backend and the real model server:
most candidates are rejected, none is lost (every one is accepted or has its reason), nothing fails."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from app.core.db import get_sessionmaker
from app.imports.service import import_file
from app.jobs.runner import run_job
from app.jobs.service import create_job
from app.models import Instruction, ItemStatus, Job, JobItem, JobStatus, Project, User
from app.users.service import create_user


def test_a_round_with_the_tiny_local_model_loses_no_candidate(served, shared_data):
    maker = get_sessionmaker()
    with maker() as session:
        admin = create_user(session, email=f"admin-{secrets.token_hex(3)}@example.com",
                            password="correct horse battery", role="admin")
        project = Project(name="Local round", slug=f"local-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        import_file(session, project=project, path=shared_data / "self-instruct" / "seed_tasks.jsonl")
        job = create_job(session, user=session.get(User, admin.id), project_slug=project.slug,
                         kind_name="self-instruct", params={"backend": served.backend, "max_prompts": 4,
                                                            "prompts_per_batch": 2, "max_tokens": 96, "seed": 5})
        session.commit()
        job_id = job.id
    run_job(job_id)
    with maker() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        errors = session.scalars(select(JobItem.error).where(JobItem.job_id == job_id,
                                                             JobItem.status == "failed")).all()
        assert job.items_failed == 0 and job.items_pending == 0, errors
        assert job.result["stopped"] in ("max_prompts", "pool_exhausted", "target_reached")
        items = session.scalars(select(JobItem).where(JobItem.job_id == job_id)).all()
        prompts = [i for i in items if i.stage == "prompt"]
        assert len(prompts) == 4 and all(p.request_hash for p in prompts)
        parsed = sum(len(p.output.get("candidates", [])) for p in prompts if p.status == ItemStatus.done)
        candidates = [i for i in items if i.stage == "candidate"]
        assert len(candidates) == parsed  # every parsed candidate is an item
        assert all(c.status == ItemStatus.done or c.reason for c in candidates)
        rejected = sum(c.status == ItemStatus.rejected for c in candidates) + \
            sum(p.status == ItemStatus.rejected for p in prompts)
        assert rejected > len(candidates) / 2  # a random tiny model writes mostly unusable lists
        made = session.scalars(select(Instruction.construction).where(Instruction.job_id == job_id)).all()
        assert set(made) <= {"self-generated"}
        assert session.scalar(select(func.count()).select_from(Instruction)
                              .where(Instruction.project_id == job.project_id)) >= 175
