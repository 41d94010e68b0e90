"""Parameters of a render-templates job."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.core.bounds import MAX_STEPS, Id

Setting = Literal["zs-opt", "fs-opt", "zs-noopt", "fs-noopt"]


class RenderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(..., min_length=1, max_length=200, description="The source dataset to render (its name).")
    templates: list[Id] | None = Field(
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


class MixtureOptions(BaseModel):
    """An export's mixture: which stored template rows, and how many of each, by recipe (Flan's mixing)."""

    model_config = ConfigDict(extra="forbid")

    preset: Literal["flan2022"] | None = Field(
        None, description="Start from a recipe: flan2022 (weights 0.40/0.32/0.20/0.05/0.03 for Flan2021/T0/CoT/NIv2/"
                          "Dialog, caps 30k/20k/100k/5k/200k rows a task, inverted x0.3); fields given override it.")
    total: int = Field(..., ge=1, le=100_000_000, description="Rows in the mixture.")
    weights: dict[str, float] | None = Field(None, description="Share of the total per source (_task_source); "
                                                               "must sum to 1.")
    caps: dict[str, Annotated[int, Field(ge=1, le=MAX_STEPS)]] | None = Field(
        None, description="Per source: the most rows one task may give (examples-proportional mixing with a cap).")
    settings: dict[Setting, float] | None = Field(
        None, description="Prompt-setting split within each task, e.g. 0.25 each of zs-opt, fs-opt, zs-noopt, "
                          "fs-noopt; must sum to 1. Default: as the rows come.")
    inverted_weight: float | None = Field(None, ge=0, le=100, description="How much an inverted row weighs against "
                                                                         "a plain one (Flan 2022: 0.3).")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Seeds which rows are drawn (default: the "
                                                                   "export's seed).")
    reviewed_only: bool = Field(False, description="Only approved rows; otherwise every row not rejected, with its "
                                                   "approved response or else its reference.")

    @model_validator(mode="after")
    def _recipe_holds(self) -> MixtureOptions:
        self.recipe()
        return self

    def recipe(self) -> dict[str, Any]:
        """The recipe with the preset filled in and checked (weights and split sum to 1, caps positive)."""
        from app.flan.presets import MIXTURE_PRESETS

        base: dict[str, Any] = dict(MIXTURE_PRESETS[self.preset]) if self.preset else {}
        for key in ("weights", "caps", "settings", "inverted_weight"):
            value = getattr(self, key)
            if value is not None:
                base[key] = value
        weights = base.get("weights")
        if not weights:
            raise ValueError("give source weights, or a preset")
        _sums_to_one(weights, "weights")
        if base.get("settings") is not None:
            _sums_to_one(base["settings"], "settings")
        for source, cap in (base.get("caps") or {}).items():
            if cap < 1:
                raise ValueError(f"the cap of source '{source}' must be at least 1 row")
        return {"preset": self.preset, "total": self.total, "weights": weights, "caps": base.get("caps") or {},
                "settings": base.get("settings"), "inverted_weight": float(base.get("inverted_weight", 1.0)),
                "reviewed_only": self.reviewed_only}

    def resolved(self, export_seed: int) -> dict[str, Any]:
        """What the export stores and its manifest states: the recipe and the seed it is drawn with."""
        return {**self.recipe(), "seed": export_seed if self.seed is None else self.seed}


def _sums_to_one(shares: dict[str, float], name: str) -> None:
    if any(v < 0 for v in shares.values()):
        raise ValueError(f"{name} cannot be negative")
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"the {name} sum to {total:.6g}; they must sum to 1")
