"""Run and generation specs: dataclasses with help text, defaults and strict validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worker.training.errors import ConfigError
from worker.training.specs import field, read_json
from worker.training.speed import SpeedSpec

SFT_FORMATS = ("sft-messages", "sft-alpaca", "sharegpt", "txtinstruct", "llava", "vision-messages")
FORMATS_BY_METHOD = {"sft": SFT_FORMATS, "dpo": ("preference",), "kto": ("kto",), "reward": ("preference",)}
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")
TEMPLATES = ("auto", "chat", "alpaca")


def _positive(value: float) -> bool:
    return value > 0


@dataclass
class LoraSpec:
    """LoRA adapter settings; enabled false means full fine-tuning."""

    enabled: bool = field(True, "Train a LoRA adapter (true) or every weight of the model (false).")
    r: int = field(16, "LoRA rank: the adapter's inner dimension.", check=lambda v: 1 <= v <= 1024,
                   rule="must be between 1 and 1024")
    alpha: float = field(32, "LoRA alpha: the adapter's output is scaled by alpha / r.", check=_positive,
                         rule="must be positive")
    dropout: float = field(0.05, "Dropout on the adapter's input.", check=lambda v: 0 <= v < 1,
                           rule="must be at least 0 and below 1")
    target_modules: str | list[str] = field(  # noqa: RUF009
        "all-linear", "Modules to adapt: 'all-linear' or a list of names.", check=lambda v: bool(v),
        rule="must not be empty")


@dataclass
class Hyperparameters:
    """Optimisation and batching settings, passed on to the TRL trainer."""

    learning_rate: float = field(2e-4, "Peak learning rate of AdamW.", check=lambda v: 0 < v < 1,
                                 rule="must be above 0 and below 1")
    num_train_epochs: float = field(1, "Passes over the training data (ignored when max_steps > 0).",
                                    check=_positive, rule="must be positive")
    max_steps: int = field(-1, "Stop after this many optimiser steps; -1 to use num_train_epochs.",
                           check=lambda v: v == -1 or v > 0, rule="must be -1 or a positive number")
    per_device_train_batch_size: int = field(4, "Sequences per device per forward pass.",
                                             check=lambda v: 1 <= v <= 4096, rule="must be between 1 and 4096")
    gradient_accumulation_steps: int = field(1, "Forward passes per optimiser step.",
                                             check=lambda v: 1 <= v <= 4096, rule="must be between 1 and 4096")
    max_length: int = field(1024, "Longest sequence in tokens; longer samples are truncated.",
                            check=lambda v: 16 <= v <= 1_000_000, rule="must be between 16 and 1000000")
    packing: bool = field(False, "Pack several samples into each max_length row (SFT only).")
    padding_free: bool = field(False, "Concatenate a batch into one row without padding (SFT and DPO).")
    seed: int = field(42, "Random seed for initialisation, shuffling and dropout.", check=lambda v: v >= 0,
                      rule="must not be negative")
    logging_steps: int = field(1, "Emit a log event every this many steps.", check=lambda v: v >= 1,
                               rule="must be at least 1")
    save_steps: int = field(50, "Save a checkpoint every this many steps.", check=lambda v: v >= 1,
                            rule="must be at least 1")
    warmup_ratio: float = field(0.0, "Fraction of steps spent warming the learning rate up.",
                                check=lambda v: 0 <= v < 1, rule="must be at least 0 and below 1")
    lr_scheduler_type: str = field("linear", "How the learning rate decays after warm-up.", choices=SCHEDULERS)
    beta: float = field(0.1, "DPO/KTO temperature: how far the policy may move from the reference.",
                        check=_positive, rule="must be positive")
    bf16: bool | str = field("auto", "bfloat16 mixed precision: true, false or 'auto' (on where CUDA has it).",
                             check=lambda v: v in (True, False, "auto"), rule="must be true, false or \"auto\"")


@dataclass
class EvalSpec:
    """Evaluation after training: loss before and after, and base-vs-tuned generations."""

    enabled: bool = field(True, "Evaluate after training when an eval_file is given.")
    num_samples: int = field(4, "Eval prompts to generate base and tuned answers for.",
                             check=lambda v: 0 <= v <= 100, rule="must be between 0 and 100")
    max_new_tokens: int = field(48, "Longest generated answer in tokens.", check=lambda v: 1 <= v <= 4096,
                                rule="must be between 1 and 4096")


@dataclass
class RunSpec:
    """One training run: method, model, data, adapter, hyperparameters and where to write."""

    base_model: str = field(help="A local Hugging Face model directory, or a hub id where a network exists.",
                            check=lambda v: bool(v.strip()), rule="must not be empty")
    output_dir: str = field(help="The run directory: checkpoints, adapter, merged weights, logs.",
                            check=lambda v: bool(v.strip()), rule="must not be empty")
    train_file: str = field(help="The training data file (an export snapshot).",
                            check=lambda v: bool(v.strip()), rule="must not be empty")
    method: str = field("sft", "Training method (reward: a reward model on preference pairs, TRL's RewardTrainer).",
                        choices=("sft", "dpo", "kto", "reward"))
    eval_file: str | None = field(None, "Evaluation data in the same format, or null.")
    data_format: str = field("sft-messages", "Format of the data files.",
                             choices=("sft-messages", "sft-alpaca", "sharegpt", "txtinstruct", "preference", "kto",
                                      "llava", "vision-messages"))
    template: str = field("auto", "How prompts are rendered: \"auto\" (the tokenizer's chat template, else an "
                                  "Alpaca layout), \"chat\", or \"alpaca\" (Alpaca's PROMPT_DICT as published).",
                          choices=TEMPLATES)
    lora: LoraSpec = field(help="LoRA adapter settings.", factory=LoraSpec)  # noqa: RUF009
    quantization: str | None = field(None, "null, or \"4bit\" for QLoRA (needs CUDA and bitsandbytes).",
                                     choices=(None, "4bit"))
    hyperparameters: Hyperparameters = field(help="Optimisation settings.", factory=Hyperparameters)  # noqa: RUF009
    resume_from_checkpoint: str | None = field(None, "A checkpoint directory, \"latest\", or null.")
    stop_file: str | None = field(None, "When this file appears, save a checkpoint and stop "
                                        "(default: OUTPUT_DIR/STOP).")
    merge_weights: bool = field(False, "Also save the base model with the adapter merged in.")
    eval: EvalSpec = field(help="Evaluation after training.", factory=EvalSpec)  # noqa: RUF009
    speed: SpeedSpec = field(help="Speed switches (never change results).", factory=SpeedSpec)  # noqa: RUF009
    vision_stage: str | None = field(None, "Vision-language runs (llava, vision-messages data): \"projector\" "
                                           "(stage 1), \"projector+lm\" (stage 2, full) or \"projector+lora\" "
                                           "(stage 2, LoRA; the default).",
                                     choices=(None, "projector", "projector+lm", "projector+lora"))

    def __post_init__(self) -> None:
        allowed = FORMATS_BY_METHOD[self.method]
        if self.data_format not in allowed:
            raise ConfigError(f"field 'data_format' is \"{self.data_format}\", which method \"{self.method}\" "
                              f"cannot train on; use {' or '.join(map(repr, allowed))}")
        hp = self.hyperparameters
        if hp.packing and self.method != "sft":
            raise ConfigError("field 'hyperparameters.packing' works with method \"sft\" only")
        if hp.padding_free and self.method in ("kto", "reward"):
            raise ConfigError(f"field 'hyperparameters.padding_free' is not supported with method \"{self.method}\"")
        if self.quantization and not self.lora.enabled:
            raise ConfigError("field 'quantization' \"4bit\" needs 'lora.enabled' true (QLoRA trains an adapter)")
        if self.data_format in ("llava", "vision-messages"):
            stage = self.vision_stage or "projector+lora"
            if (stage == "projector+lora") != self.lora.enabled:
                raise ConfigError(f"field 'vision_stage' \"{stage}\" needs 'lora.enabled' "
                                  f"{str(stage == 'projector+lora').lower()}")
            if hp.packing or hp.padding_free or self.quantization:
                raise ConfigError("vision-language runs take neither packing, padding_free nor quantization")
        elif self.vision_stage is not None:
            raise ConfigError("field 'vision_stage' is for llava or vision-messages data only")
        if self.stop_file is None:
            self.stop_file = str(Path(self.output_dir) / "STOP")

    @classmethod
    def from_file(cls, path: str | Path) -> RunSpec:
        """Read and validate a run spec file."""
        return read_json(path, cls)


@dataclass
class ScoreSpec:
    """Score responses with a reward model: a base model with a reward-lora adapter (a sequence classifier)."""

    base_model: str = field(help="The base model the reward adapter was trained on.", check=lambda v: bool(v.strip()),
                            rule="must not be empty")
    adapter_dir: str = field(help="The reward run's adapter directory.", check=lambda v: bool(v.strip()),
                             rule="must not be empty")
    input_file: str = field(help="JSONL of {\"prompt\": [{\"role\", \"content\"}], \"response\"}.")
    output_file: str = field(help="Where to write JSONL of {\"score\"}, one per input line.")
    batch_size: int = field(8, "Texts scored together.", check=lambda v: 1 <= v <= 256,
                            rule="must be between 1 and 256")

    @classmethod
    def from_file(cls, path: str | Path) -> ScoreSpec:
        """Read and validate a scoring spec file."""
        return read_json(path, cls)
