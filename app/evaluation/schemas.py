"""Parameters of the evaluation kinds, and the REST shapes of sets, benchmark tasks and human comparisons."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.evaluation.judges import DEFAULT_CRITERIA
from app.instructions.selection import InstructionFilter

MODELS_HELP = ("Models to evaluate: a backend name or run-<id> (its answers are generated), or answers:<model> "
               "for the candidates of that model already imported (e.g. answers:davinci).")


class AnswerParams(BaseModel):
    """What every evaluation that needs models' answers shares."""

    model_config = ConfigDict(extra="forbid")

    evaluation_set: str = Field(..., min_length=1, max_length=100, description="The evaluation set's name.")
    models: list[str] = Field(..., min_length=1, max_length=20, description=MODELS_HELP)
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the answers (0 = greedy).")
    max_tokens: int = Field(512, ge=1, le=32_768, description="Longest answer, in tokens.")
    limit: int | None = Field(None, ge=1, le=100_000, description="Only the set's first N members.")

    @field_validator("models")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        value = [v.strip() for v in value]
        if any(not v or v == "answers:" for v in value):
            raise ValueError("a model name is empty")
        if len(set(value)) != len(value):
            raise ValueError("a model is named twice")
        return value


class JudgeParams(AnswerParams):
    judge: str = Field(..., min_length=1, max_length=100,
                       description="The judge: a backend name (an LLM), or reward:run-<id> (a trained reward model).")
    mode: Literal["pairwise", "single"] = Field(
        "pairwise", description="pairwise: each model against the baseline, in both orders; single: a 1-10 score.")
    baseline: str | None = Field(None, max_length=200,
                                 description="Pairwise: the model the others are compared with (default: the first).")
    criteria: str = Field(DEFAULT_CRITERIA, min_length=1, max_length=2000, title="What the judge weighs",
                          description="The criteria named in the judge's prompt (a custom rubric).")
    use_reference: bool = Field(False, description="Show the judge the set's reference answer where there is one.")
    judge_max_tokens: int = Field(1024, ge=16, le=32_768, description="Longest judgement, in tokens.")

    @model_validator(mode="after")
    def _pairs(self) -> JudgeParams:
        if self.mode == "pairwise":
            if len(self.models) < 2:
                raise ValueError("pairwise judging needs at least two models (a baseline and one to compare)")
            if self.baseline is not None and self.baseline not in self.models:
                raise ValueError(f"the baseline '{self.baseline}' is not one of the models")
        return self

    @property
    def baseline_model(self) -> str:
        return self.baseline or self.models[0]


class ReferenceParams(AnswerParams):
    metrics: list[Literal["rouge_l", "exact_match"]] = Field(
        default_factory=lambda: ["rouge_l"], min_length=1,
        description="rouge_l: ROUGE-L against the reference, by reference length; exact_match: against labels.")


class BenchmarkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(..., min_length=1, max_length=100, description="The benchmark task file's name.")
    models: list[str] = Field(..., min_length=1, max_length=20,
                              description="Backends (or run-<id>) to score through their /v1/completions.")
    limit: int | None = Field(None, ge=1, le=1_000_000, description="Only the task's first N questions.")
    runner: Literal["builtin", "lm-eval", "both"] = Field(
        "builtin", description="builtin: Tuneloop's own scorer; lm-eval: lm-evaluation-harness (installed in the "
                               "worker) through the same /v1/completions; both: each, side by side.")
    tokenizer: str | None = Field(None, max_length=1000,
                                  description="lm-eval with an OpenAI-compatible backend: a local tokenizer "
                                              "directory (local models use their own).")

    @property
    def builtin(self) -> bool:
        return self.runner in ("builtin", "both")

    @property
    def lm_eval(self) -> bool:
        return self.runner in ("lm-eval", "both")


class RewardRankParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reward_run: int = Field(..., ge=1, description="The id of a succeeded reward-lora tuning run.")
    filter: InstructionFilter = Field(default_factory=lambda: InstructionFilter(status=["pending"]),
                                      description="Which instructions' candidates to score (default: pending ones).")


class EvaluationSetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    filter: InstructionFilter = Field(..., description="Which of the project's instructions become members.")


class EvaluationSetOut(BaseModel):
    name: str
    description: str
    size: int
    references: int
    labels: int
    sha256: str
    source: str
    created_at: datetime
    items: list[dict[str, Any]] | None = None


class BenchmarkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    rows: list[Any] = Field(..., min_length=1, max_length=100_000,
                            description='Questions: {"id"?, "question", "choices": [...], "answer": index or text}.')


class BenchmarkOut(BaseModel):
    name: str
    size: int
    problems: list[dict[str, Any]]
    sha256: str


class CriterionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(..., min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(..., min_length=1, max_length=100)
    help: str = Field("", max_length=500)


class ComparisonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    evaluation_set: str = Field(..., min_length=1, max_length=100)
    model_a: str = Field(..., min_length=1, max_length=200, description="A model with answers to the set.")
    model_b: str = Field(..., min_length=1, max_length=200, description="The model it is compared with.")
    criteria: Literal["hhh"] | list[CriterionIn] = Field(
        "hhh", description='"hhh" (helpful, honest, harmless) or a custom rubric of criteria.')
    overlap: int = Field(1, ge=1, le=20, description="Annotators per pair.")

    @model_validator(mode="after")
    def _two(self) -> ComparisonCreate:
        if self.model_a == self.model_b:
            raise ValueError("compare two different models")
        if isinstance(self.criteria, list):
            if not self.criteria:
                raise ValueError("a custom rubric needs at least one criterion")
            if len({c.key for c in self.criteria}) != len(self.criteria):
                raise ValueError("two criteria share a key")
        return self


class RunEvaluation(BaseModel):
    """An evaluation to run when a tuning run succeeds: the tuned model against its parent (the previous round's
    run, or the base model's backend) on an evaluation set."""

    model_config = ConfigDict(extra="forbid")

    evaluation_set: str = Field(..., min_length=1, max_length=100, description="The evaluation set's name.")
    judge: str | None = Field(None, max_length=100, description="A judge backend for pairwise judging, or none.")
    baseline: str | None = Field(
        None, max_length=200, description="What to compare with; default: the previous round's run-<id>, else "
                                          "the backend whose model is the run's base model.")
    reference_metrics: bool = Field(True, description="Also score ROUGE-L against the set's references.")
