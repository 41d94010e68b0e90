"""lm-evaluation-harness as the `benchmark` kind's second scorer: what the worker's harness runner is given, and
what it gives back.

The harness (torch, transformers, datasets) lives in the worker only: the worker registers its runner here
(worker.lmeval), as it registers its embedding loader. The web process never imports lm_eval; a process without a
runner (a worker without the `train` extra) fails the item with a message that says how to install it.

The harness scores the same stored task through the same /v1/completions the built-in scorer asks: our own model
server for local models (tokenizer from the model's directory), the backend's server otherwise (tokenizer from
the job's `tokenizer` directory). Nothing is fetched from a hub: the task travels as a local JSON Lines file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.backends.config import BackendConfig
from app.backends.requests import BackendError
from app.core.errors import AppError
from app.evaluation.benchmarks import Question

INSTALL = "pip install lm_eval==0.4.13 (the worker's `train` extra pins it)"


class HarnessFailed(AppError):
    """The harness could not score a model: not installed, endpoint unreachable, no tokenizer. Fails the item."""


@dataclass(frozen=True)
class Endpoint:
    url: str  # the whole /v1/completions URL
    model: str  # the model name the server knows
    tokenizer: str  # a local tokenizer directory
    # Made per request: the model server's signature expires after a few minutes, a harness run may not.
    headers: Callable[[], dict[str, str]] = dict
    concurrency: int = 1
    timeout_s: float = 120.0


@dataclass(frozen=True)
class HarnessRun:
    task: str  # the harness task's name (a safe word)
    docs: list[dict[str, Any]]  # {"id", "question", "choices", "answer"}, already normalised as the built-in's
    endpoint: Endpoint
    progress: Callable[[int, int], None] = field(default=lambda done, total: None)


class Runner(Protocol):
    def __call__(self, run: HarnessRun) -> dict[str, Any]:
        """{"version", "docs": [{"id", "acc", "acc_norm", "logprobs"}], "acc", "acc_stderr", ...}"""


_runner: Runner | None = None


def register_runner(runner: Runner) -> None:
    """The worker's harness runner (worker.lmeval calls this on import)."""
    global _runner
    _runner = runner


def run(harness_run: HarnessRun) -> dict[str, Any]:
    if _runner is None:
        raise HarnessFailed("lm-evaluation-harness is not available in this process: it runs in the worker "
                            f"({INSTALL}).")
    return _runner(harness_run)


def doc(question: Question) -> dict[str, Any]:
    """A question as the harness's task reads it: the same stripped text the built-in scorer sends, so both
    score the same strings ("Question: ...\\nAnswer:" and " " + choice)."""
    return {"id": question.id, "question": question.question.strip(),
            "choices": [c.strip() for c in question.choices], "answer": question.answer}


def endpoint(session: Session, config: BackendConfig, *, tokenizer: str | None) -> Endpoint:
    """Where the harness sends its requests for a backend, with the tokenizer it needs to split the prompt."""
    limits = dict(concurrency=max(1, config.limits.max_concurrency), timeout_s=config.limits.timeout_s)
    if config.is_local:
        from app.serving.errors import OpenAIError
        from app.serving.internal import internal_headers, model_server_url
        from app.serving.service import weights_for

        try:
            model_dir = weights_for(session, config.name).model
        except OpenAIError as exc:
            raise HarnessFailed(f"Backend '{config.name}': {exc}") from exc
        return Endpoint(url=model_server_url() + "/v1/completions", model=config.name,
                        tokenizer=tokenizer or model_dir, headers=internal_headers, **limits)
    if not tokenizer:
        raise HarnessFailed(f"Backend '{config.name}' is an OpenAI-compatible server: lm-evaluation-harness needs "
                            "a local tokenizer directory for it (the job's `tokenizer` parameter).")
    try:
        key = config.api_key()
    except BackendError as exc:
        raise HarnessFailed(exc.message) from exc
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    return Endpoint(url=config.base_url.rstrip("/") + "/completions", model=config.model, tokenizer=tokenizer,
                    headers=lambda: dict(auth), **limits)


def mean_stderr(values: list[float]) -> float | None:
    """The harness's standard error of a mean (sample standard deviation over the square root of n)."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / math.sqrt(n)


def summarise(docs: list[dict[str, Any]], *, version: str | None, unscored: int) -> dict[str, Any]:
    """acc and acc_norm with their standard errors over every scored question of one model."""
    acc = [float(d["acc"]) for d in docs]
    norm = [float(d["acc_norm"]) for d in docs]
    stderr, stderr_norm = mean_stderr(acc), mean_stderr(norm)
    return {"accuracy": round(sum(acc) / len(acc), 6) if acc else None,
            "accuracy_stderr": round(stderr, 6) if stderr is not None else None,
            "accuracy_norm": round(sum(norm) / len(norm), 6) if norm else None,
            "accuracy_norm_stderr": round(stderr_norm, 6) if stderr_norm is not None else None,
            "n": len(docs), "unscored": unscored, "lm_eval_version": version}
