"""Tuneloop: turn human feedback into instruction-tuned models."""

__version__ = "0.1.0"
