"""Fixtures for annotation tests: a project with instructions and candidates, built through the models."""

from __future__ import annotations

import hashlib

import pytest

from app.models import Candidate, Instruction, Project, Split


def add_instructions(session, project: Project, n: int, *, candidates: int = 3, split: Split = Split.train,
                     text: str = "Instruction") -> list[Instruction]:
    """n instructions with `candidates` candidates each, flushed so they have ids."""
    rows = []
    for i in range(n):
        body = f"{text} {i}"
        ins = Instruction(project_id=project.id, instruction=body, input="", system="", history=[], meta={},
                          split=split, source="test", content_hash=hashlib.sha256(body.encode()).hexdigest())
        ins.candidates = [Candidate(text=f"Answer {j} to {body}", model=f"m{j}") for j in range(candidates)]
        session.add(ins)
        rows.append(ins)
    session.flush()
    return rows


@pytest.fixture
def make_project(db):
    def _make(slug: str = "demo", n: int = 3, candidates: int = 3, guidelines: str = "Rank **carefully**.",
              **settings) -> Project:
        project = Project(name=slug.title(), slug=slug, guidelines=guidelines, settings=settings)
        db.add(project)
        db.flush()
        add_instructions(db, project, n, candidates=candidates)
        return project

    return _make
