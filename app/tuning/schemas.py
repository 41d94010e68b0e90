"""Tuning run input and output shapes for the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.bounds import MAX_STEPS, Id, Seed
from app.evaluation.schemas import RunEvaluation

Method = Literal["sft-lora", "sft-full", "sft-qlora", "dpo-lora", "dpo-qlora", "kto-lora", "reward-lora"]
METHODS: tuple[str, ...] = ("sft-lora", "sft-full", "sft-qlora", "dpo-lora", "dpo-qlora", "kto-lora", "reward-lora")


class Hyperparameters(BaseModel):
    """Trainer knobs; the defaults suit a LoRA run on a small model."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(2e-4, gt=0, lt=1)
    num_train_epochs: float = Field(1.0, gt=0, le=1000)
    max_steps: int = Field(-1, ge=-1, le=MAX_STEPS,
                           description="-1 trains for num_train_epochs; otherwise stop at this step.")
    per_device_train_batch_size: int = Field(4, ge=1, le=4096)
    gradient_accumulation_steps: int = Field(1, ge=1, le=4096)
    max_length: int = Field(1024, ge=16, le=1_048_576)
    packing: bool = False
    padding_free: bool = False
    seed: Seed = 42
    logging_steps: int = Field(1, ge=1, le=MAX_STEPS)
    save_steps: int = Field(50, ge=1, le=MAX_STEPS)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    lr_scheduler_type: Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts",
                               "polynomial"] = Field("linear", description="How the learning rate decays.")
    beta: float = Field(0.1, gt=0, le=100, description="DPO's KL penalty; ignored by SFT.")
    bf16: bool | Literal["auto"] = Field("auto", description="bfloat16: true, false, or auto (on where CUDA has it).")


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1, le=1024)
    alpha: float = Field(32, gt=0, le=4096)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


class EvalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    num_samples: int = Field(4, ge=0, le=100)
    max_new_tokens: int = Field(48, ge=1, le=4096)


class TuningRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = Field(..., min_length=1, max_length=100, description="The project's slug.")
    export_id: Id
    base_model: str = Field(..., min_length=1, max_length=500, description="A local model folder or a hub id.")
    method: Method = "sft-lora"
    name: str = Field("", max_length=200)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    merge_weights: bool = False
    evaluation: RunEvaluation | None = Field(
        None, description="An evaluation to run when the run succeeds (against its parent, on an evaluation set).")
    preset: Literal["alpaca"] | None = Field(
        None, description="A named recipe whose settings fill what the request leaves out: alpaca = Stanford "
                          "Alpaca's (its prompt, lr 2e-5, 3 epochs, batch 128, max length 512, warm-up 0.03, cosine).")
    template: Literal["auto", "chat", "alpaca"] | None = Field(
        None, description="Prompt rendering: auto (the model's chat template, else an Alpaca layout), chat, or alpaca "
                          "(Alpaca's PROMPT_DICT exactly); default auto, or the preset's.")

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        from app.tuning.presets import apply

        return apply(data) if isinstance(data, dict) else data


class ArtifactOut(BaseModel):
    name: str
    size_bytes: int
    url: str


class TuningRunOut(BaseModel):
    id: int
    project: str
    export_id: int
    name: str
    method: str
    base_model: str
    state: str
    error_kind: str | None
    error: str | None
    settings: dict[str, Any]
    checks: list[Any]
    token_stats: dict[str, Any]
    progress: dict[str, Any]
    metrics: dict[str, Any]
    evaluation: dict[str, Any]
    checkpoint: dict[str, Any] | None
    artifacts: list[ArtifactOut]
    cloned_from_id: int | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunEventOut(BaseModel):
    id: int
    event: str
    time: datetime
    data: dict[str, Any]
