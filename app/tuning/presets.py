"""Named training recipes: a preset fills every setting the request leaves out.

`alpaca` is Stanford Alpaca's recipe (tatsu-lab/stanford_alpaca, train.py and its README): the PROMPT_DICT
template, EOS appended to the response, prompt tokens left out of the loss, learning rate 2e-5, 3 epochs, an
effective batch of 128 sequences, at most 512 tokens, 3% warm-up and a cosine decay. The batch here is 4 per
device times 32 accumulation steps on one process; with N processes, divide the accumulation by N.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "alpaca": {
        "template": "alpaca",
        "hyperparameters": {"learning_rate": 2e-5, "num_train_epochs": 3.0, "per_device_train_batch_size": 4,
                            "gradient_accumulation_steps": 32, "max_length": 512, "warmup_ratio": 0.03,
                            "lr_scheduler_type": "cosine"},
        "title": "Alpaca (lr 2e-5, 3 epochs, batch 128, 512 tokens, cosine, Alpaca prompt)",
    },
}


def apply(payload: dict[str, Any]) -> dict[str, Any]:
    """The request with its preset's values under the ones it gives itself."""
    name, given = payload.get("preset"), payload.get("hyperparameters") or {}
    if not isinstance(name, str) or name not in PRESETS or not isinstance(given, dict):
        return payload  # no preset, or a malformed request the schema then names
    preset = PRESETS[name]
    merged = {**payload, "hyperparameters": {**preset["hyperparameters"], **given}}
    if merged.get("template") is None:
        merged["template"] = preset["template"]
    return merged
