"""Parameters of a render-templates job."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Setting = Literal["zs-opt", "fs-opt", "zs-noopt", "fs-noopt"]


class RenderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(..., min_length=1, max_length=200, description="The source dataset to render (its name).")
    templates: list[int] | None = Field(
        None, max_length=1000, description="Template ids (their current versions); default: all of the dataset's task.")
    settings: list[Setting] = Field(
        default_factory=lambda: ["zs-opt", "fs-opt", "zs-noopt", "fs-noopt"], min_length=1,
        description="Prompt settings: zero- or few-shot, with options (Opt) or without (NoOpt).")
    k: int = Field(3, ge=0, le=10, description="Exemplars per few-shot row (0/1/2/3/5/10), before pruning.")
    token_budget: int = Field(1920, ge=16, le=1_000_000,
                              description="Few-shot rows are pruned to at most this many input tokens.")
    tokenizer: str | None = Field(
        None, max_length=1000,
        description="A local tokenizer folder (tokenizer.json), or 'whitespace'; default: the tiny demo model's "
                    "tokenizer when present, else whitespace.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds options layout and exemplars: same seed, same rows.")
    exemplar_pool: int = Field(1000, ge=1, le=20_000,
                               description="Exemplars are drawn from this many records of the dataset, picked once.")
    limit: int | None = Field(None, ge=1, le=10_000_000, description="Render only the first N records.")

    @field_validator("settings")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))
