"""Export requests and answers: the options that define a snapshot's content, and its public view."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.core.bounds import MAX_ID, Id
from app.flan.schemas import MixtureOptions

FORMATS = ("sft-alpaca", "sft-messages", "sharegpt", "preference", "kto", "txtinstruct", "prompt-completion",
           "alpaca-prompt", "ranking")
# One response a row: what a mixture of template rows can be written as.
MIXTURE_FORMATS = ("sft-alpaca", "sft-messages", "sharegpt", "prompt-completion", "alpaca-prompt")
FILE_FORMATS = ("jsonl", "json", "parquet", "hf")
ExportFormat = Literal["sft-alpaca", "sft-messages", "sharegpt", "preference", "kto", "txtinstruct",
                       "prompt-completion", "alpaca-prompt", "ranking"]
FileFormat = Literal["jsonl", "json", "parquet", "hf"]
SplitName = Literal["train", "eval"]


# A metadata filter's value: JSON text, a number a database can compare, or true/false.
MetaValue = str | Annotated[int, Field(ge=-MAX_ID - 1, le=MAX_ID)] | Annotated[float, Field(allow_inf_nan=False)] | bool


class ExportFilters(BaseModel):
    """Which approved instructions go in. Every filter narrows; none means all of the project's approvals."""

    model_config = ConfigDict(extra="forbid")

    split: list[SplitName] | None = Field(
        None, description="Instruction splits to include (train, eval); holdout is governed by include_holdout.")
    source: list[str] | None = Field(None, description="Only instructions whose source is one of these.")
    construction: list[Literal["human", "template", "distilled", "self-generated"]] | None = Field(
        None, description="Only instructions made this way (provenance): human, template, distilled, self-generated.")
    metadata: dict[str, MetaValue] | None = Field(
        None, description="Only instructions whose metadata has every one of these key=value pairs.")
    approved_since: datetime | None = Field(None, description="Only approvals at or after this time (UTC if naive).")
    annotator_id: Id | None = Field(None, description="Only instructions this user submitted an annotation for.")
    subset: str | None = Field(None, min_length=1, max_length=100,
                               description="Only instructions of this saved subset (a curate job's selection).")

    @field_validator("source", "construction")
    @classmethod
    def _no_empty_sources(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("give at least one value, or leave the filter out")
        return value

    @field_validator("metadata")
    @classmethod
    def _keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in value or {}:
            if not key or len(key) > 100:
                raise ValueError("metadata keys must be 1 to 100 characters")
        return value


class ExportCreate(BaseModel):
    """POST /api/v1/projects/{slug}/exports."""

    model_config = ConfigDict(extra="forbid")

    format: ExportFormat
    file_format: FileFormat | None = Field(
        None, description="jsonl (default; json for sft-alpaca), parquet, or hf (a datasets save_to_disk folder).")
    preference_style: Literal["plain", "conversational"] = Field(
        "plain", description="preference and kto: prompt/completion as strings or as message lists (TRL's forms).")
    eval_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="Share of train-split instructions sent to eval.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the hash that picks eval instructions (and, for "
                                                         "prompt-completion, each row's template).")
    dedupe: bool = Field(True, description="Drop rows identical to an earlier row (same prompt and response).")
    include_holdout: bool = Field(
        False, description="Also write holdout instructions, to a separate holdout file that is never trained on.")
    filters: ExportFilters = Field(default_factory=ExportFilters)
    mixture: MixtureOptions | None = Field(
        None, description="Sample a Flan-style mixture of the project's template rows instead of exporting every "
                          "approval (see the README's Mixtures section).")

    @model_validator(mode="after")
    def _file_format_fits(self) -> ExportCreate:
        if self.file_format is None:
            self.file_format = "json" if self.format == "sft-alpaca" else "jsonl"
        if self.file_format == "json" and self.format != "sft-alpaca":
            raise ValueError("file_format 'json' (one JSON list) is for sft-alpaca; use jsonl for this format")
        if self.file_format == "jsonl" and self.format == "sft-alpaca":
            raise ValueError("sft-alpaca is a JSON list: use file_format 'json', 'parquet' or 'hf'")
        if self.mixture is not None:
            if self.format not in MIXTURE_FORMATS:
                raise ValueError(f"a mixture is written as {', '.join(MIXTURE_FORMATS)} (one response a row)")
            if self.filters.approved_since or self.filters.annotator_id is not None:
                raise ValueError("a mixture draws from rows whether reviewed or not: filter by split, source or "
                                 "metadata, not by approval time or annotator")
            # A mixture draws distinct rows by recipe; dropping identical ones afterwards would bend its shares.
            self.dedupe = False
        return self

    def options(self) -> dict[str, Any]:
        """The normalised options stored on the export: everything but the format that shapes the content."""
        data = self.model_dump(mode="json", exclude={"format"})
        data["filters"] = {k: v for k, v in data["filters"].items() if v is not None}
        if self.mixture is None:
            data.pop("mixture")
        else:
            data["mixture"] = self.mixture.resolved(self.seed)
        return data


class ExportFile(BaseModel):
    name: str
    split: str | None
    rows: int | None
    bytes: int
    sha256: str


class ExportOut(BaseModel):
    id: int
    project: str
    version: int
    format: str
    options: dict[str, Any]
    status: str
    rows_done: int
    rows_total: int | None
    row_counts: dict[str, Any]
    files: list[ExportFile]
    sha256: str | None
    error: str | None
    path: str | None
    created_by_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    download_url: str | None


class ExportAccepted(BaseModel):
    id: int
    status: str
