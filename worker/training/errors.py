"""Errors a run reports as an `error` event: each carries a kind and words a user can act on."""

from __future__ import annotations


class TrainingError(Exception):
    """A failure with a kind ("data", "config", "oom", "internal") and a user-facing message."""

    kind = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(TrainingError):
    """The spec or the model setup is wrong: a field, a path, an unavailable feature."""

    kind = "config"


class DataError(TrainingError):
    """A data file is missing, empty or does not parse in the declared format."""

    kind = "data"


class OutOfMemory(TrainingError):
    """The device ran out of memory; the message says what to shrink."""

    kind = "oom"


OOM_ADVICE = ("Out of memory while training. Lower per_device_train_batch_size (and raise "
              "gradient_accumulation_steps to keep the effective batch), lower max_length, enable packing, "
              "or use 4-bit quantization (QLoRA) on a CUDA machine.")


def is_oom(exc: BaseException) -> bool:
    """True when the exception is an out-of-memory error from torch or the allocator."""
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    # CUDA says "out of memory"; torch's CPU allocator says "can't allocate memory".
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
