"""Parameters of a llava-generate job."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.instructions.selection import InstructionFilter


class LlavaGenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(..., min_length=1, max_length=100, description="The (text-only) teacher backend.")
    filter: InstructionFilter = Field(default_factory=InstructionFilter,
                                      description="Which instructions' images to generate from (those whose images "
                                                  "carry captions or boxes).")
    kinds: list[Literal["conversation", "detail", "complex"]] = Field(
        default_factory=lambda: ["conversation", "detail", "complex"], min_length=1,
        description="LLaVA's three kinds: multi-turn conversation, detailed description, complex reasoning.")
    response_format: str | None = Field(
        None, max_length=500, description="Appended to every generated question (e.g. \"Answer the question using a "
                                          "single word or phrase.\"); an instruction's metadata `response_format` "
                                          "overrides it for the data made from it.")
    few_shot: bool = Field(True, description="Show the teacher LLaVA's worked example first.")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(1024, ge=16, le=32_768, description="Longest answer, in tokens.")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Sampling seed.")
