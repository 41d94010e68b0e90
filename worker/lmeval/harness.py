"""One harness run: the task written out as local JSON Lines and an lm_eval task config (nothing from a hub),
scored by lm_eval's `simple_evaluate` with its `local-completions` model against the backend's /v1/completions.

The model is lm_eval's own LocalCompletionsAPI with two changes: headers are made per request (the model server's
signature expires, a run may not) and every request reports progress. The prompt is tokenised as the model server
tokenises text (with the model's special tokens), so the harness asks for the very log-likelihoods the built-in
scorer asks for.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from app.evaluation.lmeval import INSTALL, HarnessFailed, HarnessRun


def task_config(name: str, data_file: Path, cache_dir: Path) -> dict[str, Any]:
    """The harness's multiple-choice task over a local file; the same prompt and choices as the built-in scorer."""
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}, "cache_dir": str(cache_dir)},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_choice": "choices",
        "doc_to_target": "answer",
        "target_delimiter": " ",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                        {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }


def _model(run: HarnessRun) -> Any:
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    endpoint = run.endpoint
    total = sum(len(d["choices"]) for d in run.docs)
    done = [0]

    def tick(answers: Any) -> None:
        done[0] += len(answers) if isinstance(answers, list) else 1
        run.progress(min(done[0], total), total)

    class Completions(LocalCompletionsAPI):
        @property
        def header(self) -> dict[str, str]:  # lm_eval caches its header; ours expires, so it is made each time
            return endpoint.headers()

        def model_call(self, *args: Any, **kwargs: Any) -> Any:
            out = super().model_call(*args, **kwargs)
            tick(out.get("choices", []) if isinstance(out, dict) else out)
            return out

        async def amodel_call(self, *args: Any, **kwargs: Any) -> Any:
            out = await super().amodel_call(*args, **kwargs)
            tick(out)
            return out

    return Completions(base_url=endpoint.url, model=endpoint.model, tokenizer=endpoint.tokenizer,
                       tokenizer_backend="huggingface", tokenized_requests=True, add_bos_token=True,
                       num_concurrent=endpoint.concurrency, batch_size=1, max_retries=3,
                       timeout=max(1, int(endpoint.timeout_s)))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None  # the harness writes "N/A" for no stderr


def run(harness_run: HarnessRun) -> dict[str, Any]:
    """Score the run's questions; HarnessFailed says why not (not installed, endpoint unreachable, ...)."""
    # Offline: a tokenizer directory must be complete and the task is a local file; nothing is fetched.
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(variable, "1")
    try:
        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager
    except ImportError as exc:
        raise HarnessFailed(f"lm-evaluation-harness is not installed on this worker ({INSTALL}): {exc}") from exc
    version = importlib.metadata.version("lm_eval")
    endpoint = harness_run.endpoint
    with tempfile.TemporaryDirectory(prefix="tuneloop-lmeval-") as folder:
        data_file = Path(folder) / "task.jsonl"
        data_file.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in harness_run.docs))
        config = task_config(harness_run.task, data_file, Path(folder) / "cache")
        try:
            model = _model(harness_run)
        except Exception as exc:
            raise HarnessFailed(f"lm-evaluation-harness could not load the tokenizer at {endpoint.tokenizer}: "
                                f"{type(exc).__name__}: {exc}") from exc
        try:
            results = simple_evaluate(model=model, tasks=[config], task_manager=TaskManager(include_defaults=False),
                                      log_samples=True, random_seed=None, numpy_random_seed=None,
                                      torch_random_seed=None)
        except Exception as exc:
            raise HarnessFailed(_failure(endpoint.url, exc)) from exc
    if not results:
        raise HarnessFailed("lm-evaluation-harness returned no results")
    return _collect(results, harness_run.task, version)


def _failure(url: str, exc: BaseException) -> str:
    """A harness error in words: an error status and an unreachable endpoint are named as such, anything else as
    it came."""
    chain, seen = [], exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for error in chain:  # requests' HTTPError carries the response, aiohttp's ClientResponseError the status
        status = getattr(getattr(error, "response", None), "status_code", None) or getattr(error, "status", None)
        if isinstance(status, int):
            return f"lm-evaluation-harness got HTTP {status} from {url}: {type(exc).__name__}: {exc}"
    if any(isinstance(e, ConnectionError | OSError) or "connect" in type(e).__name__.lower() for e in chain):
        return f"lm-evaluation-harness could not reach {url}: {type(exc).__name__}: {exc}"
    return f"lm-evaluation-harness failed against {url}: {type(exc).__name__}: {exc}"


def _collect(results: dict[str, Any], task: str, version: str) -> dict[str, Any]:
    """The harness's own figures, and per question: right or not, raw and length-normalised, and each choice's
    log-likelihood (to compare with the built-in scorer's)."""
    figures = results["results"][task]
    docs = [{"id": str(s["doc"]["id"]), "line": s["doc"].get("line"), "acc": float(s["acc"]),
             "acc_norm": float(s["acc_norm"]), "logprobs": [round(float(r[0]), 6) for r in s["filtered_resps"]]}
            for s in sorted(results["samples"][task], key=lambda s: s["doc_id"])]
    return {"version": version, "docs": docs, "acc": _number(figures.get("acc,none")),
            "acc_stderr": _number(figures.get("acc_stderr,none")), "acc_norm": _number(figures.get("acc_norm,none")),
            "acc_norm_stderr": _number(figures.get("acc_norm_stderr,none"))}
