"""Annotation inputs (one shape for the task page, the queue API and the REST endpoint) and outputs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.core.bounds import Id
from app.projects.schemas import UtcDatetime

FLAGS = {
    "unsafe": "Unsafe",
    "personal_data": "Contains personal data",
    "not_instruction": "Not an instruction",
    "needs_expert": "Needs an expert",
    # Grounded items (built from a document's passage): the answer says what the passage does not.
    "unsupported": "Not supported by the passage",
}
MAX_TEXT = 100_000


# A rating: a number on the 1-5 scale or a letter of A-D (checked against the project's scale later).
Rating = Annotated[int, Field(ge=-1000, le=1000)] | Annotated[str, Field(max_length=10)]


class FeedbackIn(BaseModel):
    """One annotator's feedback on one instruction. Ids are the instruction's candidate ids."""

    model_config = ConfigDict(extra="forbid")

    ranking: list[Id] = Field(default_factory=list, max_length=1000, description="candidate ids, best first; no ties")
    all_bad: bool = False
    correction: str | None = Field(None, max_length=MAX_TEXT,
                                   description="the response it should have been; omit for none")
    corrected_candidate_id: Id | None = Field(None, description="the candidate the correction was edited from")
    ratings: dict[str, Rating] = Field(default_factory=dict, max_length=1000,
                                       description="{candidate_id: value on the scale}")
    flags: list[str] = Field(default_factory=list, max_length=20, description=f"any of {', '.join(FLAGS)}")
    comment: str = Field("", max_length=10_000)


class DraftIn(BaseModel):
    """An autosaved draft: same fields, loosely checked; the ranking may have gaps (null) while unfinished."""

    model_config = ConfigDict(extra="forbid")

    ranking: list[Id | None] = Field(default_factory=list, max_length=1000)
    all_bad: bool = False
    correction: str | None = Field(None, max_length=MAX_TEXT)
    corrected_candidate_id: Id | None = None
    ratings: dict[str, Rating] = Field(default_factory=dict, max_length=1000)
    flags: list[str] = Field(default_factory=list, max_length=20)
    comment: str = Field("", max_length=10_000)


class SkipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class CandidateOut(BaseModel):
    """A candidate as an annotator sees it: no model and no origin, so every response is judged blind."""

    id: int
    text: str


class InstructionOut(BaseModel):
    id: int
    project_id: int
    external_id: str | None
    instruction: str
    input: str
    system: str
    history: list[Any]
    metadata: dict[str, Any]
    split: str
    status: str
    candidates: list[CandidateOut] = Field(description="In this annotation's own shuffled order (see shown_order).")


class AnnotationOut(BaseModel):
    id: int
    instruction_id: int
    user_id: int
    status: str
    ranking: list[Any]
    all_bad: bool
    correction: str | None
    corrected_candidate_id: int | None
    ratings: dict[str, Any]
    flags: list[Any]
    comment: str
    skip_reason: str
    shown_order: list[int] | None = Field(
        description="Candidate ids in the order the task showed them (shuffled per annotation); null when "
                    "the feedback was pushed without a task")
    reserved_until: UtcDatetime | None
    submitted_at: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class TaskOut(BaseModel):
    """A reserved task: the annotation (the draft) and the instruction to annotate."""

    annotation: AnnotationOut
    instruction: InstructionOut


def annotation_out(a) -> AnnotationOut:
    return AnnotationOut(
        id=a.id, instruction_id=a.instruction_id, user_id=a.user_id, status=a.status.value, ranking=a.ranking or [],
        all_bad=a.all_bad, correction=a.correction, corrected_candidate_id=a.corrected_candidate_id,
        ratings=a.ratings or {}, flags=a.flags or [], comment=a.comment or "", skip_reason=a.skip_reason or "",
        shown_order=[int(c) for c in a.shown_order] if a.shown_order is not None else None,
        reserved_until=a.reserved_until, submitted_at=a.submitted_at, created_at=a.created_at,
        updated_at=a.updated_at,
    )


def instruction_out(i, candidates) -> InstructionOut:
    """The instruction for a task, with `candidates` in the order the annotation shows them."""
    return InstructionOut(
        id=i.id, project_id=i.project_id, external_id=i.external_id, instruction=i.instruction, input=i.input,
        system=i.system, history=i.history or [], metadata=i.meta or {}, split=i.split.value, status=i.status.value,
        candidates=[CandidateOut(id=c.id, text=c.text) for c in candidates],
    )
