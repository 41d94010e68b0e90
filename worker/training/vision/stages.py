"""LLaVA's training stages as presets: which parts of the model learn, and a record of what was trainable.

- `projector` (stage 1, feature alignment): only the multimodal projector; vision tower and language model frozen.
- `projector+lm` (stage 2, full): projector and language model; the vision tower stays frozen.
- `projector+lora` (stage 2, LoRA): a LoRA adapter on the language model, the projector trained in full and saved
  with the adapter.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from worker.training.config import LoraSpec

STAGES = ("projector", "projector+lm", "projector+lora")
PROJECTOR = "multi_modal_projector"
VISION_TOWER = "vision_tower"
# LoRA on the language model's linear layers only (never the vision tower or the projector, which trains fully).
LM_LINEAR = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def freeze_for(model: Any, stage: str) -> None:
    """Set requires_grad for the stages without LoRA (PEFT freezes the base itself for the LoRA stage)."""
    for name, param in model.named_parameters():
        if stage == "projector":
            param.requires_grad = PROJECTOR in name
        elif stage == "projector+lm":
            param.requires_grad = VISION_TOWER not in name


def lora_config(lora: LoraSpec) -> Any:
    from peft import LoraConfig

    targets = LM_LINEAR if lora.target_modules == "all-linear" else lora.target_modules
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                      modules_to_save=[PROJECTOR], task_type="CAUSAL_LM")


def _group(name: str) -> str:
    """A parameter's part of the model, for the log: vision tower, projector, language model, LoRA."""
    if "lora_" in name:
        return "lora"
    if PROJECTOR in name:
        return "projector"
    if VISION_TOWER in name:
        return "vision_tower"
    return "language_model"


def trainable_report(model: Any) -> dict[str, Any]:
    """What the run trains: counts by part, and every trainable parameter's name."""
    trainable: Counter[str] = Counter()
    frozen: Counter[str] = Counter()
    names = []
    for name, param in model.named_parameters():
        (trainable if param.requires_grad else frozen)[_group(name)] += param.numel()
        if param.requires_grad:
            names.append(name)
    total = sum(trainable.values()) + sum(frozen.values())
    return {"trainable_parameters": sum(trainable.values()), "total_parameters": total,
            "trainable_by_part": dict(sorted(trainable.items())), "frozen_by_part": dict(sorted(frozen.items())),
            "trainable_names": names}
