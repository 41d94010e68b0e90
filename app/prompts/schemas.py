"""Template requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TemplateTypeName = Literal["zero-shot", "few-shot", "cot", "inverted"]


class TemplateMetadata(BaseModel):
    """promptsource's metadata."""

    model_config = ConfigDict(extra="forbid")

    original_task: bool | None = Field(None, description="Does the prompt ask for the dataset's original task?")
    choices_in_prompt: bool | None = Field(None, description="Does the prompt itself list the answer choices?")
    metrics: list[str] | None = Field(None, max_length=20, description="Metrics to evaluate it with.")
    languages: list[str] | None = Field(None, max_length=20, description="Languages of the prompt (ISO 639-1).")


class FewShotLayout(BaseModel):
    """How exemplars and the query are joined in few-shot rows."""

    model_config = ConfigDict(extra="forbid")

    input_prefix: str = Field("", max_length=200, description="Before each input, e.g. 'Q: '.")
    target_prefix: str = Field("", max_length=200, description="Before each target, e.g. 'A: '.")
    delimiter: str = Field("\n", max_length=50, description="Between an input and its target.")
    separator: str = Field("\n\n", max_length=50, description="Between exemplars.")


class TemplateCreate(BaseModel):
    """POST /api/v1/projects/{slug}/templates (JSON)."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(..., min_length=1, max_length=200)
    name: str = Field(..., min_length=1, max_length=200)
    jinja: str = Field(..., min_length=1, max_length=50_000, description="Input ||| target, in Jinja.")
    answer_choices: str | None = Field(None, max_length=10_000, description="Choices as Jinja: 'a ||| b'.")
    type: TemplateTypeName = "zero-shot"
    reference: str = Field("", max_length=2000)
    metadata: TemplateMetadata = Field(default_factory=TemplateMetadata)
    few_shot: FewShotLayout | None = Field(None, description="Few-shot layout (few-shot and cot templates).")


class TemplateUpdate(BaseModel):
    """PUT /api/v1/templates/{id}: any changed field makes a new version."""

    model_config = ConfigDict(extra="forbid")

    jinja: str | None = Field(None, min_length=1, max_length=50_000)
    answer_choices: str | None = Field(None, max_length=10_000)
    type: TemplateTypeName | None = None
    reference: str | None = Field(None, max_length=2000)
    metadata: TemplateMetadata | None = None
    few_shot: FewShotLayout | None = None


class TemplateCreated(BaseModel):
    id: int
    version: int
    name: str
    task: str
    status: Literal["created", "updated", "unchanged"] = "created"


class VersionOut(BaseModel):
    version: int
    type: str
    jinja: str
    answer_choices: str | None
    reference: str
    metadata: dict[str, Any]
    few_shot: dict[str, Any]
    created_at: datetime


class TemplateOut(BaseModel):
    id: int
    task: str
    name: str
    idx: int
    uid: str
    version: int
    current: VersionOut
    versions: list[int]


class PreviewRequest(BaseModel):
    """POST /api/v1/projects/{slug}/templates/preview: render a draft on stored records, nothing saved."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(..., min_length=1, max_length=200)
    jinja: str = Field("", max_length=50_000)
    answer_choices: str | None = Field(None, max_length=10_000)
    setting: Literal["zs-opt", "zs-noopt"] = "zs-noopt"
    seed: int = Field(0, ge=0, le=2**31 - 1)


class PreviewRow(BaseModel):
    record: int
    input: str | None = None
    target: str | None = None
    error: str | None = None
    code: str | None = None


class PreviewOut(BaseModel):
    problems: list[dict[str, str]]
    rows: list[PreviewRow]
    dataset: str | None


class PresetCreate(BaseModel):
    """POST /api/v1/projects/{slug}/templates/presets."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(..., min_length=1, max_length=200)
    preset: Literal["cot"] = Field("cot", description="cot: two chain-of-thought templates and two input "
                                                      "inversions, for records with question, answer and cot.")
