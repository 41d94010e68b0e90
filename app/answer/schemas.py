"""Parameters of an answer job."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.instructions.selection import InstructionFilter
from app.models import Construction, InstructionStatus


def _pending() -> InstructionFilter:
    return InstructionFilter(status=[InstructionStatus.pending])


class AnswerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(..., min_length=1, max_length=100, description="The backend that answers.")
    filter: InstructionFilter = Field(default_factory=_pending,
                                      description="Which instructions (default: the pending ones).")
    n: int = Field(1, ge=1, le=16, title="Answers per instruction", description="How many answers each gets (n).")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature (0 = greedy).")
    top_p: float | None = Field(None, gt=0, le=1, title="Top p", description="Nucleus sampling (top_p).")
    max_tokens: int = Field(512, ge=1, le=32_768, description="Longest answer, in tokens.")
    stop: list[str] | None = Field(None, max_length=4, description="Stop sequences.")
    seed: int | None = Field(None, ge=0, le=2**31 - 1,
                             description="Sampling seed; with a seed the same question gets the same answer.")
    construction: Construction | None = Field(
        None, description="How to label the answers; default: self-generated for local models and tuned runs, "
                          "distilled for other backends.")
    keep_truncated: bool = Field(False, description="Keep answers cut off at max_tokens (rejected as "
                                                    "'truncated' otherwise).")
