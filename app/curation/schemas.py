"""Parameters of the curation kinds (curate, diversity, quality-score, quality-filter) and the REST answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.curation.rules import QualityRules
from app.instructions.selection import InstructionFilter

Strategy = Literal["score-first", "k-center"]
RankBy = Literal["auto", "judge", "reward", "rating", "none"]


class QualityGate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str | None = Field(None, max_length=100, description="A judge backend: candidates without its score "
                                                                  "are scored first (AlpaGasus, 1-5).")
    min_score: float | None = Field(None, ge=1, le=5, description="Leave out candidates scored below this.")
    dimension: Literal["accuracy", "helpfulness"] = Field("accuracy", description="What the judge rates.")


class CurateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_n: int = Field(..., ge=1, le=10_000_000, title="Target N", description="How many items to add.")
    threshold: float = Field(0.9, gt=0, le=1, description="Cosine at or above which two items are near-duplicates.")
    embedding_model: str | None = Field(None, max_length=1000, description="A local sentence-embedding model "
                                        "directory or a backend name; empty: TUNELOOP_EMBEDDING_MODEL.")
    quality: QualityGate | None = Field(None, description="Score with a judge first and/or keep a minimum score.")
    filter: InstructionFilter = Field(default_factory=InstructionFilter,
                                      description="Which instructions are candidates (evaluation items never are).")
    subset: str = Field("curated", min_length=1, max_length=100,
                        description="The subset to save into; an existing one grows without readmitting a "
                                    "near-duplicate of what it holds.")
    strategy: Strategy = Field("score-first", description="score-first (DEITA: best first, skipping "
                                                         "near-duplicates) or k-center (farthest first).")
    rank_by: RankBy = Field("auto", description="The score that orders candidates: auto takes the judge's, else a "
                                                "reward model's, else annotators' ratings.")
    leakage: bool = Field(True, description="Flag and leave out near-duplicates of evaluation items.")
    skip_rule_failures: bool = Field(True, description="Leave out instructions a quality filter refused.")


class DiversityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embedding_model: str | None = Field(None, max_length=1000, description="A local sentence-embedding model "
                                        "directory or a backend name; empty: TUNELOOP_EMBEDDING_MODEL.")
    threshold: float = Field(0.9, gt=0, le=1, description="Cosine at or above which two items are near-duplicates.")
    filter: InstructionFilter = Field(default_factory=InstructionFilter, description="Which instructions.")
    clusters: int = Field(8, ge=1, le=200, description="How many clusters (k-means on the embeddings).")
    samples: int = Field(3, ge=1, le=20, description="Sample items shown per cluster.")
    leakage: bool = Field(True, description="Flag near-duplicates of evaluation items (never exported for "
                                            "training).")


class QualityScoreParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(..., min_length=1, max_length=100, description="The judge.")
    filter: InstructionFilter = Field(default_factory=InstructionFilter, description="Which instructions.")
    dimension: Literal["accuracy", "helpfulness"] = Field("accuracy", description="What the judge rates.")
    threshold: float = Field(4.5, ge=1, le=5, description="AlpaGasus keeps items scored at least this.")
    max_tokens: int = Field(256, ge=8, le=4096, description="Longest judge answer, in tokens.")
    rescore: bool = Field(False, description="Ask again for items this judge already scored.")


class QualityFilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: QualityRules = Field(default_factory=QualityRules, description="The rules (a preset plus overrides).")
    filter: InstructionFilter = Field(default_factory=InstructionFilter, description="Which instructions.")


class SubsetView(BaseModel):
    name: str
    instruction_ids: list[int]
    size: int
    rounds: int
    meta: dict
