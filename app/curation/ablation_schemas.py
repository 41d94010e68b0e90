"""An ablation's request: a base model, shared trainer settings, and the data choices to compare."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ArmSpec(BaseModel):
    """One data choice: an existing subset (the curated N), a random N, the whole set, a curated subset of N or
    of a multiple of another subset's size (2x, 4x), or the quality-filtered set."""

    model_config = ConfigDict(extra="forbid")

    data: Literal["subset", "random", "whole", "curated", "quality"]
    name: str | None = Field(None, max_length=100, description="What the table calls it.")
    subset: str | None = Field(None, max_length=100, description="subset: the subset; curated: the subset whose "
                                                                 "settings (threshold, model, ranking) are reused.")
    n: int | None = Field(None, ge=1, le=10_000_000, description="random: how many; curated: how many to select.")
    multiple: int | None = Field(None, ge=1, le=64, description="curated: a multiple of the subset's size.")
    min_score: float | None = Field(None, ge=1, le=5, description="quality: lowest judge score kept.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="random: the sample's seed.")

    @model_validator(mode="after")
    def _complete(self) -> ArmSpec:
        if self.data in ("subset", "curated") and not self.subset:
            raise ValueError(f"a '{self.data}' arm names its subset")
        if self.data == "random" and not self.n:
            raise ValueError("a 'random' arm says how many (n)")
        if self.data == "curated" and not (self.n or self.multiple):
            raise ValueError("a 'curated' arm gives n or a multiple of its subset's size")
        return self


class AblationEvaluation(BaseModel):
    """An evaluation set every arm's tuned model answers once all have trained: judged pairwise against the first
    arm (win rate with its 95 % interval) and/or scored by ROUGE-L against the set's references."""

    model_config = ConfigDict(extra="forbid")

    evaluation_set: str = Field(..., min_length=1, max_length=100, description="The evaluation set's name.")
    judge: str | None = Field(None, max_length=100, description="A judge backend for pairwise judging, or none.")
    reference_metrics: bool = Field(True, description="Score ROUGE-L against the set's references.")
    max_tokens: int = Field(256, ge=1, le=32_768, description="Longest answer of each arm's model, in tokens.")
    limit: int | None = Field(None, ge=1, le=100_000, description="Only the set's first N members.")


class AblationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    base_model: str = Field(..., min_length=1, max_length=500, description="A local model folder.")
    method: Literal["sft-lora", "sft-full"] = "sft-lora"
    hyperparameters: dict[str, Any] = Field(default_factory=dict, description="As a tuning run's, for every arm.")
    lora: dict[str, Any] = Field(default_factory=dict)
    arms: list[ArmSpec] = Field(..., min_length=2, max_length=8)
    evaluation: AblationEvaluation | None = Field(
        None, description="Besides the eval loss on the project's eval split: an evaluation set to judge and score "
                          "every arm on.")


class AblationView(BaseModel):
    id: int
    project: str
    name: str
    status: str
    base_model: str
    method: str
    evaluation: dict[str, Any]
    arms: list[dict[str, Any]]
    table: list[dict[str, Any]]
    error: str | None
