"""Ingest items (TypedDicts validated by pydantic-core in one pass) and instruction responses."""

# No `from __future__ import annotations`: the item TypedDicts are built in a function and pydantic must
# see their field types as objects, not as strings naming locals.

from functools import lru_cache
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter
from typing_extensions import TypedDict

from app.projects.schemas import UtcDatetime
from app.review.schemas import ApprovalOut

# Strict: a number is never taken for a string, nor a string for a number; JSON numbers stay numbers.
ITEM_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 8
MAX_HISTORY_TURNS = 200
Label = Annotated[str, StringConstraints(max_length=200)]
# How a record was made (app.models.Construction); pushed or imported without one, it is human-made.
ConstructionName = Literal["human", "template", "distilled", "self-generated"]


def _metadata_ok(value: dict[str, Any]) -> dict[str, Any]:
    """Metadata is a JSON object of bounded size and nesting, so one client cannot bloat every read."""
    import orjson

    def depth(node: Any, level: int) -> int:
        if level > MAX_METADATA_DEPTH:  # deep enough to refuse; recursing further could exhaust the stack
            return level
        if isinstance(node, dict):
            return max((depth(v, level + 1) for v in node.values()), default=level)
        if isinstance(node, list):
            return max((depth(v, level + 1) for v in node), default=level)
        return level

    if depth(value, 1) > MAX_METADATA_DEPTH:
        raise ValueError(f"nested deeper than {MAX_METADATA_DEPTH} levels")
    try:
        encoded = orjson.dumps(value)
    except TypeError as exc:  # e.g. an integer beyond 64 bits, which PostgreSQL's JSONB could not keep either
        raise ValueError(f"cannot be stored as JSON: {exc}") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(f"larger than {MAX_METADATA_BYTES // 1024} KiB as JSON")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_metadata_ok)]


@lru_cache
def item_types(max_text: int, max_candidates: int, importing: bool) -> dict[str, Any]:
    """The item TypedDicts for these limits; `importing` adds the candidate `origin` files may set."""
    plain_text = Annotated[str, StringConstraints(max_length=max_text)]
    # A `\S` pattern (Rust regex) rejects empty and whitespace-only text without a Python call per item.
    required_text = Annotated[str, StringConstraints(min_length=1, max_length=max_text, pattern=r"\S")]

    class HistoryTurn(TypedDict):
        __pydantic_config__ = ITEM_CONFIG  # type: ignore[misc]
        role: Literal["user", "assistant"]
        content: required_text  # type: ignore[valid-type]

    class CandidateIn(TypedDict):
        __pydantic_config__ = ITEM_CONFIG  # type: ignore[misc]
        # May be empty: a model that answered nothing gave a real (bad) response, worth ranking last.
        text: plain_text  # type: ignore[valid-type]
        model: NotRequired[Label]
        score: NotRequired[float | None]
        construction: NotRequired[ConstructionName]

    class ImportCandidate(CandidateIn):
        origin: NotRequired[Literal["imported", "reference"]]

    class InstructionItem(TypedDict):
        __pydantic_config__ = ITEM_CONFIG  # type: ignore[misc]
        external_id: NotRequired[Annotated[str, StringConstraints(min_length=1, max_length=200)] | None]
        instruction: required_text  # type: ignore[valid-type]
        input: NotRequired[plain_text]  # type: ignore[valid-type]
        system: NotRequired[plain_text]  # type: ignore[valid-type]
        history: NotRequired[Annotated[list[HistoryTurn], Field(max_length=MAX_HISTORY_TURNS)]]
        split: NotRequired[Literal["train", "eval", "holdout"]]
        source: NotRequired[Label]
        metadata: NotRequired[Metadata]
        construction: NotRequired[ConstructionName]
        candidates: NotRequired[
            Annotated[list[ImportCandidate if importing else CandidateIn], Field(max_length=max_candidates)]
        ]

    class IngestBody(TypedDict):
        __pydantic_config__ = ITEM_CONFIG  # type: ignore[misc]
        items: list[InstructionItem]

    return {"item": InstructionItem, "body": IngestBody}


@lru_cache
def adapters(max_text: int, max_candidates: int, importing: bool = False) -> dict[str, TypeAdapter]:
    """TypeAdapters over one item, a list of items, and the {"items": [...]} body (built once per limits)."""
    types = item_types(max_text, max_candidates, importing)
    item = types["item"]
    return {"item": TypeAdapter(item), "items": TypeAdapter(list[item]), "body": TypeAdapter(types["body"])}


class IngestResult(BaseModel):
    created: int
    updated: int
    unchanged: int
    ids: list[int] = Field(description="The instruction id of every item, in item order.")


class CandidateOut(BaseModel):
    id: int
    text: str
    model: str
    score: float | None
    origin: str
    created_at: UtcDatetime
    construction: str | None = Field(None, description="How it was made (hidden from annotators, like the model).")
    job_id: int | None = Field(None, description="The job that made it, if one did.")
    backend: str = Field("", description="The backend that wrote it, if a job asked one.")


class AnnotationOut(BaseModel):
    id: int
    user_id: int
    status: str
    ranking: list[Any]
    ratings: dict[str, Any]
    correction: str | None
    corrected_candidate_id: int | None
    all_bad: bool
    flags: list[Any]
    comment: str
    skip_reason: str
    submitted_at: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class InstructionSummary(BaseModel):
    id: int
    project: str
    external_id: str | None
    instruction: str
    input: str
    system: str
    history: list[dict[str, Any]]
    split: str
    source: str
    metadata: dict[str, Any]
    status: str
    content_hash: str
    candidate_count: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
    evaluation_only: bool = Field(False, description="Kept for evaluation: never in a training export.")
    construction: str = Field("human", description="How it was made: human, template, distilled, self-generated.")
    job_id: int | None = Field(None, description="The job that made it, if one did.")
    backend: str = Field("", description="The backend that wrote it, if a job asked one.")
    model: str = Field("", description="The model that wrote it, if a job asked one.")


class InstructionOut(InstructionSummary):
    candidates: list[CandidateOut]
    annotations: list[AnnotationOut] = Field(description="Reviewers and admins see all; annotators their own.")
    approval: ApprovalOut | None = Field(None, description="The approved training data, once reviewed.")


class CandidateRemoval(BaseModel):
    candidates: int = Field(description="Candidates removed.")
    annotations_changed: int = Field(description="Annotations whose ranking, ratings or correction named one.")
    approvals_changed: int = Field(description="Approvals whose order or rejected candidates named one.")
    approvals_withdrawn: int = Field(description="Approvals whose final response was one: back to review.")


class InstructionPage(BaseModel):
    items: list[InstructionSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class HistoryTurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: Annotated[str, StringConstraints(min_length=1)]


class InstructionPatch(BaseModel):
    """Fields a reviewer or admin may change; the rest (status, candidates) change through review."""

    model_config = ConfigDict(extra="forbid", strict=True)
    instruction: Annotated[str, StringConstraints(min_length=1, pattern=r"\S")] | None = None
    input: str | None = None
    system: str | None = None
    split: Literal["train", "eval", "holdout"] | None = None
    source: Label | None = None
    metadata: Metadata | None = None
    evaluation_only: bool | None = None
