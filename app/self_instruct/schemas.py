"""Parameters of a self-instruct job: the original algorithm's numbers as defaults, every one of them a parameter.

Settings left empty take their mode's default (Self-Instruct's bootstrap_instructions.py, or Alpaca's
generate_instruction.py), written into the job's stored parameters so the job says exactly how it ran.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.instructions.selection import InstructionFilter
from app.models import Construction

Mode = Literal["self-instruct", "alpaca"]

# name: (self-instruct, alpaca)
MODE_DEFAULTS: dict[str, tuple[object, object]] = {
    "prompt_instructions": (8, 3),
    "machine_instructions": (2, 0),
    "list_length": (16, 20),
    "classify": (True, False),
    "temperature": (0.7, 1.0),
    "top_p": (0.5, 1.0),
    "max_tokens": (1024, 3072),
    "presence_penalty": (2.0, 0.0),
}


def _human_seeds() -> InstructionFilter:
    return InstructionFilter(construction=[Construction.human])


class SelfInstructParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(..., min_length=1, max_length=100, description="The model that writes new instructions.")
    seeds: InstructionFilter = Field(
        default_factory=_human_seeds,
        description="Which instructions seed the prompts (default: the project's human-written ones). "
                    "Evaluation-only instructions are never used as seeds.")
    mode: Literal["self-instruct", "alpaca"] = Field(
        "self-instruct", description="self-instruct: Wang et al.'s prompt of 8 numbered tasks; alpaca: Stanford "
                                     "Alpaca's prompt of 3 tasks with inputs and outputs, 20 per list.")
    target_accepted: int = Field(100, ge=1, le=1_000_000, title="Target accepted",
                                 description="Stop once this many new instructions were accepted.")
    max_prompts: int | None = Field(None, ge=1, le=1_000_000, title="Most prompts",
                                    description="Stop after this many prompts (empty: no limit).")
    prompts_per_batch: int = Field(5, ge=1, le=1000, title="Prompts per batch",
                                   description="Prompts sent together (the original's request_batch_size); each "
                                               "batch samples from what earlier batches accepted.")
    prompt_instructions: int | None = Field(None, ge=1, le=50, title="Instructions per prompt",
                                            description="Tasks listed in each prompt (8; Alpaca 3).")
    machine_instructions: int | None = Field(
        None, ge=0, le=50, title="Machine instructions per prompt",
        description="Of those, at most this many from the generated pool (2; Alpaca 0).")
    list_length: int | None = Field(
        None, ge=2, le=200, title="List length",
        description="Generation stops at this item number (16 as the original's stop sequences; Alpaca 20).")
    classification_only: bool = Field(
        False, description="Only classification seeds, and the original's classification wording.")
    rouge_threshold: float = Field(0.7, gt=0, le=1, title="ROUGE-L threshold",
                                   description="Reject a candidate whose ROUGE-L F1 with any pool instruction "
                                               "is above this.")
    decontaminate: bool = Field(True, description="Also reject candidates too similar to the project's "
                                                  "evaluation-only instructions.")
    classify: bool | None = Field(None, description="Ask whether each new task is a classification task "
                                                    "(the original's few-shot Yes/No prompt; Alpaca: off).")
    generate_instances: bool = Field(True, title="Generate instances",
                                     description="Ask for input/output instances of each new task (Alpaca's "
                                                 "one instance comes with the task).")
    max_instances: int = Field(5, ge=1, le=50, title="Most instances per task")
    instances_max_tokens: int | None = Field(
        None, ge=16, le=32_768, title="Longest instances answer",
        description="Longest answer when asking for a task's instances (empty: the original's 300 for "
                    "classification tasks, 350 for the others).")
    endpoint: Literal["completions", "chat"] = Field(
        "completions", description="completions: the prompt is continued, as the originals did; chat: it is sent "
                                   "as one user message.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature (0.7; Alpaca 1.0).")
    top_p: float | None = Field(None, gt=0, le=1, title="Top p", description="Nucleus sampling (0.5; Alpaca 1.0).")
    max_tokens: int | None = Field(None, ge=16, le=32_768, description="Longest answer (1024; Alpaca 3072).")
    presence_penalty: float | None = Field(None, ge=-2, le=2, description="Presence penalty (2; Alpaca 0; "
                                                                          "0 is not sent).")
    window: int = Field(500, ge=10, le=100_000, title="Stop window",
                        description="Candidates the acceptance rate is measured over.")
    min_acceptance_rate: float = Field(0.02, ge=0, le=1, title="Least acceptance rate",
                                       description="Stop when the acceptance over the last window falls under "
                                                   "this: the pool is exhausted.")
    construction: Construction | None = Field(
        None, description="How to label the new instructions; default: self-generated for local models and tuned "
                          "runs, distilled for other backends.")
    seed: int | None = Field(None, ge=0, le=2**31 - 1,
                             description="Seeds the sampling of prompts; with a seed, the same job asks the same "
                                         "prompts (and reuses stored answers).")

    @model_validator(mode="after")
    def _mode_defaults(self) -> SelfInstructParams:
        column = 0 if self.mode == "self-instruct" else 1
        for name, values in MODE_DEFAULTS.items():
            if getattr(self, name) is None:
                setattr(self, name, values[column])
        if self.machine_instructions > self.prompt_instructions:
            raise ValueError("machine_instructions cannot exceed prompt_instructions")
        if self.list_length <= self.prompt_instructions:
            raise ValueError(f"list_length must be above prompt_instructions ({self.prompt_instructions}): the "
                             "model continues the list from the next number")
        return self
