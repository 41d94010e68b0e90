"""Tuning runs: validate, queue, train, watch, cancel, resume and clone LoRA/DPO runs."""
