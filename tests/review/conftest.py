"""Fixtures for review tests: a project with instructions, candidates and submitted annotations."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from app.models import Annotation, AnnotationStatus, Candidate, Instruction, Project
from app.models.base import utcnow


@pytest.fixture
def make_project(db):
    def _make(name: str = "Review project", **settings) -> Project:
        project = Project(name=name, slug=f"p-{secrets.token_hex(4)}", guidelines="Be kind.",
                          settings={"min_submitted": 2, "rating_scale": "1-5", **settings})
        db.add(project)
        db.flush()
        return project

    return _make


@pytest.fixture
def make_instruction(db):
    def _make(project: Project, text: str = "Write a haiku about autumn.", candidates=("A", "B", "C"),
              **fields) -> Instruction:
        inst = Instruction(project_id=project.id, instruction=text,
                           content_hash=hashlib.sha256(f"{text}{secrets.token_hex(4)}".encode()).hexdigest(),
                           **fields)
        inst.candidates = [Candidate(text=c, model=f"model-{i}") for i, c in enumerate(candidates)]
        db.add(inst)
        db.flush()
        return inst

    return _make


@pytest.fixture
def annotate(db):
    def _annotate(inst: Instruction, user, *, ranking=None, ratings=None, correction=None, all_bad=False,
                  flags=(), comment="", status=AnnotationStatus.submitted) -> Annotation:
        ann = Annotation(instruction_id=inst.id, user_id=user.id, status=status, ranking=list(ranking or []),
                         ratings=dict(ratings or {}), correction=correction, all_bad=all_bad, flags=list(flags),
                         comment=comment, submitted_at=utcnow() if status == AnnotationStatus.submitted else None)
        db.add(ann)
        db.flush()
        return ann

    return _annotate
