"""What the review pages read: the filtered review list (keyset-paginated) and one item with its figures."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import String, cast, exists, select
from sqlalchemy.orm import Session, selectinload

from app.annotation.schemas import FLAGS
from app.core.errors import NotFound, ValidationFailed
from app.models import Annotation, AnnotationStatus, Approval, Instruction, InstructionStatus, Project, User
from app.review.agreement import Agreement, instruction_agreement
from app.review.consensus import consensus_tiers
from app.review.service import proposal

# How many instructions one page request examines at most when the agreement filter discards rows.
SCAN_LIMIT = 2000


@dataclass
class ReviewFilters:
    """The review list's filters; every one optional."""

    project_id: int | None = None
    annotator_id: int | None = None
    status: str | None = "submitted"
    flag: str | None = None
    tau_min: float | None = None
    tau_max: float | None = None

    def check(self) -> None:
        if self.status and self.status not in {s.value for s in InstructionStatus}:
            raise ValidationFailed(f"Unknown status '{self.status}'.", details=[{"field": "status"}])
        if self.flag and self.flag not in FLAGS:
            raise ValidationFailed(f"Unknown flag '{self.flag}'.", details=[{"field": "flag"}])
        for name in ("tau_min", "tau_max"):
            value = getattr(self, name)
            if value is not None and not -1.0 <= value <= 1.0:
                raise ValidationFailed("Kendall's tau lies between -1 and 1.", details=[{"field": name}])


@dataclass
class ReviewRow:
    instruction: Instruction
    annotations: list[Annotation]
    agreement: Agreement
    flags: list[str] = field(default_factory=list)


@dataclass
class ReviewPage:
    rows: list[ReviewRow]
    next_after: int | None


def _rankings(annotations: Sequence[Annotation]) -> list[list[int]]:
    return [[int(c) for c in (a.ranking or [])] for a in annotations]


def _in_range(tau: float | None, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    if tau is None:
        return False
    return (low is None or tau >= low - 1e-9) and (high is None or tau <= high + 1e-9)


def review_page(session: Session, *, filters: ReviewFilters, after: int | None = None, limit: int = 25) -> ReviewPage:
    """Instructions with submitted annotations matching the filters, newest id first, `limit` per page."""
    filters.check()
    submitted = exists().where(Annotation.instruction_id == Instruction.id,
                               Annotation.status == AnnotationStatus.submitted)
    stmt = select(Instruction).where(submitted)
    if filters.project_id:
        stmt = stmt.where(Instruction.project_id == filters.project_id)
    if filters.status:
        stmt = stmt.where(Instruction.status == filters.status)
    if filters.annotator_id:
        stmt = stmt.where(exists().where(Annotation.instruction_id == Instruction.id,
                                         Annotation.user_id == filters.annotator_id,
                                         Annotation.status == AnnotationStatus.submitted))
    if filters.flag:
        # Flags are a JSON list; its text form contains the quoted flag on both databases.
        stmt = stmt.where(exists().where(Annotation.instruction_id == Instruction.id,
                                         Annotation.status == AnnotationStatus.submitted,
                                         cast(Annotation.flags, String).like(f'%"{filters.flag}"%')))
    rows: list[ReviewRow] = []
    cursor, scanned = after, 0
    while len(rows) < limit and scanned < SCAN_LIMIT:
        batch_stmt = stmt.order_by(Instruction.id.desc()).limit(max(limit * 2, 50))
        if cursor is not None:
            batch_stmt = batch_stmt.where(Instruction.id < cursor)
        batch = list(session.scalars(batch_stmt))
        if not batch:
            return ReviewPage(rows=rows, next_after=None)
        by_inst = _submitted_by_instruction(session, [i.id for i in batch])
        for inst in batch:
            scanned += 1
            cursor = inst.id
            anns = by_inst.get(inst.id, [])
            figures = instruction_agreement(_rankings(anns))
            if _in_range(figures.kendall_tau, filters.tau_min, filters.tau_max):
                flags = sorted({str(f) for a in anns for f in (a.flags or [])})
                rows.append(ReviewRow(instruction=inst, annotations=anns, agreement=figures, flags=flags))
                if len(rows) == limit:
                    break
    return ReviewPage(rows=rows, next_after=cursor)


def _submitted_by_instruction(session: Session, ids: list[int]) -> dict[int, list[Annotation]]:
    anns = session.scalars(
        select(Annotation).options(selectinload(Annotation.user))
        .where(Annotation.instruction_id.in_(ids), Annotation.status == AnnotationStatus.submitted)
        .order_by(Annotation.submitted_at, Annotation.id)
    )
    out: dict[int, list[Annotation]] = {}
    for ann in anns:
        out.setdefault(ann.instruction_id, []).append(ann)
    return out


@dataclass
class ReviewItem:
    """Everything the review view of one instruction shows."""

    instruction: Instruction
    project: Project
    annotations: list[Annotation]
    agreement: Agreement
    consensus: list[list[int]]
    approval: Approval | None
    diffs: dict[int, list[tuple[str, str]]]
    proposal: object | None  # service.Decision: what approving the consensus now would give


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """A word-level diff as (op, text) segments; op is 'eq', 'del' or 'ins'. Whitespace is kept."""
    a, b = re.findall(r"\s+|[^\s]+", before), re.findall(r"\s+|[^\s]+", after)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("eq", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                out.append(("del", "".join(a[i1:i2])))
            if j2 > j1:
                out.append(("ins", "".join(b[j1:j2])))
    return out


def review_item(session: Session, *, instruction_id: int) -> ReviewItem:
    """One instruction with its submitted annotations, agreement, consensus and approval."""
    inst = session.get(Instruction, instruction_id)
    if inst is None:
        raise NotFound(f"No instruction {instruction_id}.")
    project = session.get(Project, inst.project_id)
    anns = _submitted_by_instruction(session, [inst.id]).get(inst.id, [])
    candidate_ids = [c.id for c in inst.candidates]
    texts = {c.id: c.text for c in inst.candidates}
    diffs = {}
    for ann in anns:
        if ann.correction:
            diffs[ann.id] = word_diff(texts.get(ann.corrected_candidate_id or -1, ""), ann.correction)
    approval = session.scalar(select(Approval).where(Approval.instruction_id == inst.id))
    return ReviewItem(instruction=inst, project=project, annotations=anns,
                      agreement=instruction_agreement(_rankings(anns)),
                      consensus=consensus_tiers(_rankings(anns), [a.ratings for a in anns], candidate_ids),
                      approval=approval, diffs=diffs, proposal=proposal(session, instruction=inst))


def annotators(session: Session) -> list[User]:
    """Users who submitted at least one annotation, for the annotator filter."""
    has = exists().where(Annotation.user_id == User.id, Annotation.status == AnnotationStatus.submitted)
    return list(session.scalars(select(User).where(has).order_by(User.name, User.email)))


def projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name, Project.id)))


@dataclass
class Overview:
    """The /review page: the filtered list, the filter choices and (with a project chosen) its figures."""

    page: ReviewPage
    projects: list[Project]
    annotators: list[User]
    project: Project | None
    figures: object | None


def review_overview(session: Session, *, filters: ReviewFilters, project_slug: str | None, after: int | None,
                    with_figures: bool) -> Overview:
    """Everything /review shows; project figures only when a project is chosen and the viewer may see them."""
    from app.review.stats import project_figures

    project = None
    if project_slug:
        project = session.scalar(select(Project).where(Project.slug == project_slug))
        if project is None:
            raise ValidationFailed(f"No project with the slug '{project_slug}'.", details=[{"field": "project"}])
        filters.project_id = project.id
    page = review_page(session, filters=filters, after=after)
    figures = project_figures(session, project=project) if project is not None and with_figures else None
    return Overview(page=page, projects=projects(session), annotators=annotators(session), project=project,
                    figures=figures)


def approve_form_rows(item: ReviewItem, tiers: list[list[int]] | None = None) -> list[tuple[object, bool]]:
    """The approve form's order as (candidate, tied with the one above), best first.

    It starts from `tiers` (the reviewer's own, after an error), else the approval, the proposal or the
    consensus, ties kept. Candidates none of those placed share one tier at the end, so a reviewer never
    posts an order between them that nobody asserted.
    """
    by_id = {c.id: c for c in item.instruction.candidates}
    if tiers is None:
        tiers = (item.approval.ranking if item.approval else
                 item.proposal.ranking if item.proposal else item.consensus)  # type: ignore[attr-defined]
    rows: list[tuple[object, bool]] = []
    placed: set[int] = set()
    for tier in tiers or []:
        present = [cid for cid in dict.fromkeys(int(c) for c in tier) if cid in by_id and cid not in placed]
        placed.update(present)
        rows += [(by_id[cid], n > 0) for n, cid in enumerate(present)]
    rest = [c for c in item.instruction.candidates if c.id not in placed]
    rows += [(c, n > 0) for n, c in enumerate(rest)]
    return rows
