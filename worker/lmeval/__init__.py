"""lm-evaluation-harness in the worker. Importing this package registers the harness runner with
app.evaluation.lmeval; lm_eval itself (and torch, transformers, datasets) is imported only when a job runs it, so a
worker without it still starts and fails such items with a message that says how to install it."""

from __future__ import annotations

from app.evaluation.lmeval import register_runner
from worker.lmeval.harness import run

register_runner(run)
