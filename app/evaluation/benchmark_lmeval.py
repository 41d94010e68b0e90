"""The `benchmark` kind's lm-evaluation-harness side: one `lm-eval` item per model, run as the engine's local work
(in a worker thread, outside any transaction), its progress in the job's state while it runs."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import update

from app.backends.resolve import backend_config
from app.core.db import session_scope
from app.core.errors import NotFound
from app.evaluation import lmeval
from app.evaluation.benchmarks import Question
from app.evaluation.schemas import BenchmarkParams
from app.jobs.context import JobContext
from app.jobs.outcome import Outcome
from app.models import ItemStatus, Job, JobItem

STAGE = "lm-eval"
PROGRESS_EVERY_S = 1.0  # the harness reports each request; the job's row is written at most this often


def plan(ctx: JobContext, params: BenchmarkParams, good: list[tuple[int, Question]]) -> None:
    """One item per model with the task's well-formed questions (the malformed ones are failed items already)."""
    docs = [{**lmeval.doc(q), "line": line} for line, q in good]
    models = list(dict.fromkeys(params.models))
    ctx.state["lm_eval_requests"] = sum(len(d["choices"]) for d in docs) * len(models)
    ctx.state["lm_eval_progress"] = {}
    ctx.save_state()
    if docs:
        ctx.add_items(STAGE, [{"model": model, "docs": docs} for model in models])


def work(params: BenchmarkParams, item: JobItem) -> dict[str, Any]:
    """Run the harness for the item's model; HarnessFailed (an AppError) fails the item with its reason."""
    model = item.input["model"]
    with session_scope() as session:
        try:
            config = backend_config(session, model)
        except NotFound as exc:
            raise lmeval.HarnessFailed(exc.message) from exc
        endpoint = lmeval.endpoint(session, config, tokenizer=params.tokenizer)
    task = "tuneloop_" + "".join(c if c.isalnum() else "_" for c in params.task)[:60]
    return lmeval.run(lmeval.HarnessRun(task=task, docs=item.input["docs"], endpoint=endpoint,
                                        progress=_reporter(item.job_id, model)))


def _reporter(job_id: int, model: str):
    """A progress callback that writes {model: [done, total]} into the job's state, throttled."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        with session_scope() as session:
            job = session.get(Job, job_id)
            state = dict(job.state or {})
            state["lm_eval_progress"] = {**state.get("lm_eval_progress", {}), model: [done, total]}
            # A whole-value update: the engine's own sessions never write the state while the harness runs.
            session.execute(update(Job).where(Job.id == job_id).values(state=state)
                            .execution_options(synchronize_session=False))

    return report


def handle(ctx: JobContext, item: JobItem) -> Outcome:
    made = ctx.batch.get("work", {}).get(item.id)
    if made is None:
        return Outcome.failed("lm-evaluation-harness gave no result for this model")
    return Outcome.done(made)


def scores(items: list[tuple[dict[str, Any], dict[str, Any], ItemStatus, str | None]]) -> dict[str, Any]:
    """{model: acc, acc_norm, their stderr, n, the harness's version} from the lm-eval items, or the error."""
    out: dict[str, Any] = {}
    for data, output, status, error in items:
        if status == ItemStatus.done:
            out[data["model"]] = lmeval.summarise(output.get("docs", []), version=output.get("version"),
                                                  unscored=len(data.get("docs", [])) - len(output.get("docs", [])))
        else:
            out[data["model"]] = {"accuracy": None, "accuracy_norm": None, "n": 0,
                                  "unscored": len(data.get("docs", [])), "error": error}
    return out


def progress(job: Any) -> tuple[int, int] | None:
    """Harness requests done beside the items done, while a harness run is under way (None: items only)."""
    state = job.state or {}
    planned = state.get("lm_eval_requests")
    if not planned:
        return None
    done = sum(min(d, t) for d, t in (state.get("lm_eval_progress") or {}).values())
    return done, planned


def summary(item: Any) -> tuple[str, str]:
    data, out = item.input or {}, item.output or {}
    asked = f"{data.get('model')} · {len(data.get('docs', []))} questions through lm-evaluation-harness"
    if "docs" not in out:
        return asked, ""
    right = sum(d["acc"] for d in out["docs"])
    return asked, f"{right:g} of {len(out['docs'])} right (lm-eval {out.get('version')})"
