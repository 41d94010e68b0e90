"""Approved-data factories for export tests: projects, instructions with ranked candidates, approvals."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.models import Approval, ApprovalMethod, Candidate, Instruction, InstructionStatus, Project


def add_project(session: Session, slug: str | None = None) -> Project:
    slug = slug or f"p-{secrets.token_hex(3)}"
    project = Project(name=f"Project {slug}", slug=slug)
    session.add(project)
    session.flush()
    return project


def add_approved(session: Session, project: Project, *, instruction: str, input: str = "", system: str = "",
                 history: list[dict[str, str]] | None = None, split: str = "train", source: str = "",
                 meta: dict[str, Any] | None = None, candidates: list[str] = ("good", "ok", "bad"),
                 tiers: list[list[int]] | None = None, final: int | str = 0, all_bad: bool = False,
                 rejected: list[int] | None = None, approved_at: datetime | None = None,
                 annotation_ids: list[int] | None = None) -> tuple[Instruction, list[Candidate], Approval]:
    """One approved instruction. `tiers` and `rejected` index into `candidates`; `final` is an index (that
    candidate unedited) or a string (a correction). Default: candidates ranked in the order given."""
    inst = Instruction(project_id=project.id, instruction=instruction, input=input, system=system,
                       history=history or [], split=split, source=source, meta=meta or {},
                       status=InstructionStatus.approved,
                       content_hash=hashlib.sha256(f"{instruction}|{secrets.token_hex(4)}".encode()).hexdigest())
    session.add(inst)
    session.flush()
    cands = [Candidate(instruction_id=inst.id, text=text, model=f"m{i}") for i, text in enumerate(candidates)]
    session.add_all(cands)
    session.flush()
    tiers = tiers if tiers is not None else [[i] for i in range(len(cands))]
    approval = Approval(
        instruction_id=inst.id, project_id=project.id,
        final_response=final if isinstance(final, str) else cands[final].text,
        final_candidate_id=None if isinstance(final, str) else cands[final].id,
        ranking=[[cands[i].id for i in tier] for tier in tiers], all_bad=all_bad,
        rejected_candidate_ids=[cands[i].id for i in (rejected or [])], annotation_ids=annotation_ids or [],
        method=ApprovalMethod.adjudicated,
    )
    if approved_at is not None:
        approval.approved_at = approved_at
    session.add(approval)
    session.flush()
    return inst, cands, approval


def seed_mixed(session: Session, project: Project, n: int = 12) -> None:
    """A small realistic mix: splits, a correction, ties, an all-bad item, a multi-turn item."""
    for i in range(n):
        add_approved(session, project, instruction=f"Task {i}: name a colour", input=f"hint {i}" if i % 2 else "",
                     candidates=[f"blue {i}", f"red {i}", f"green {i}"], rejected=[2],
                     split="eval" if i % 5 == 4 else ("holdout" if i % 7 == 6 else "train"),
                     source="seed" if i % 3 else "web", meta={"lang": "en" if i % 2 else "de"})
    add_approved(session, project, instruction="Write a haiku", candidates=["a", "b", "c"], tiers=[[0], [1, 2]],
                 final="A corrected haiku", rejected=[2])
    add_approved(session, project, instruction="All bad here", candidates=["x", "y"], all_bad=True,
                 final="A written answer", rejected=[0, 1])
    add_approved(session, project, instruction="And then?", system="Be brief.",
                 history=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
                 candidates=["More", "Less"])


@pytest.fixture
def project(db: Session) -> Project:
    return add_project(db)


@pytest.fixture
def live_admin(live):
    """A committed admin with a token, and a committed project with approvals, on the live database."""
    from app.core.db import get_sessionmaker
    from app.users.service import create_token, create_user

    with get_sessionmaker()() as session:
        admin = create_user(session, email="exporter@example.com", password="correct horse battery", role="admin")
        session.flush()
        token = create_token(session, user=admin, name="t").secret
        project = add_project(session, "live-proj")
        seed_mixed(session, project, n=10)
        session.commit()
    return {"Authorization": f"Bearer {token}"}
