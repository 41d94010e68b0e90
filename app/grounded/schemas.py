"""Parameters of the grounded-qa and grounded-eval jobs (API.md's names for grounded-qa are the contract)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.grounded.prompts import DEFAULT_REFUSAL


def _refusal(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("the refusal must not be empty")
    return value


class GroundedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[int] | None = Field(None, max_length=10_000, title="Documents",
                                        description="Document ids to build from (default: every document).")
    passage_query: str | None = Field(None, max_length=500, title="Passage filter",
                                      description="Only passages holding every word of this full-text search.")
    max_passages: int | None = Field(None, ge=1, le=1_000_000, title="Most passages",
                                     description="At most this many passages, in document order.")
    question_backend: str = Field(..., min_length=1, max_length=100, description="The backend that writes questions.")
    answer_backend: str = Field(..., min_length=1, max_length=100,
                                description="The teacher that answers from the passage.")
    questions_per_passage: int = Field(1, ge=1, le=10, description="Questions asked of each passage.")
    title_statements: bool = Field(False, description="Also ask 'Tell me about {title}' or 'Describe {title}' of "
                                                      "passages with a heading or document title.")
    unanswerable: bool = Field(True, description="Add one unanswerable item per passage: a question written for "
                                                 "another passage (txtinstruct's way), with the refusal as target.")
    invented: bool = Field(False, title="Invented details",
                           description="Also ask for a question about a plausible detail the passage does not "
                                       "mention; kept with the refusal as target when the teacher refuses it.")
    refusal: str = Field(DEFAULT_REFUSAL, min_length=1, max_length=300,
                         description="What the model should say when the passage does not answer the question.")
    holdout_fraction: float = Field(0.0, ge=0.0, le=0.9, title="Held-out passages",
                                    description="Share of passages whose items go to the holdout split, for "
                                                "evaluating a tuned model on passages it never saw.")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature of the question writer.")
    answer_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the teacher.")
    max_tokens: int = Field(512, ge=16, le=8192, description="Longest answer, in tokens.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the draws (held-out passages, borrowed questions, "
                                                         "title templates) and the sampling.")

    _clean_refusal = field_validator("refusal")(_refusal)


class GroundedEvalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(..., min_length=1, max_length=100,
                         description="The model evaluated: any backend, a tuned run as run-<id>, or a base model "
                                     "through a local backend.")
    split: Literal["holdout", "eval", "train"] = Field("holdout", description="Which grounded items to ask: by "
                                                       "default those of the held-out passages.")
    documents: list[int] | None = Field(None, max_length=10_000, description="Only items from these documents.")
    prompt: Literal["auto", "chat", "txtinstruct"] = Field(
        "auto", description="How the question is put: as the chat exports put it (system rule, question and "
                            "passage in the user turn), or as txtinstruct's training prompt; auto follows a tuned "
                            "run's export format.")
    for_run: int | None = Field(None, ge=1, title="For tuning run",
                                description="Show this evaluation on that run's page (the run itself as "
                                            "run-<id> is found without it).")
    side: Literal["auto", "before", "after"] = Field(
        "auto", description="Before or after tuning, on the run's page; auto: after for run-<id>, before otherwise.")
    max_items: int | None = Field(None, ge=1, le=1_000_000, description="At most this many items.")
    max_tokens: int = Field(256, ge=8, le=8192, description="Longest answer, in tokens.")
