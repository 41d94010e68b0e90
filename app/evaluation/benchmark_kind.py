"""The `benchmark` kind: multiple-choice accuracy by log-likelihood, each choice scored through a backend's
/v1/completions with echo and logprobs. A malformed question is a failed item naming its line and field.

`runner` picks the scorer: the built-in one (an item per choice), lm-evaluation-harness (an item per model, run
in the worker: benchmark_lmeval), or both side by side on the same questions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.backends.resolve import backend_config
from app.core.errors import NotFound, ValidationFailed
from app.evaluation import benchmark_lmeval, benchmarks
from app.evaluation.schemas import BenchmarkParams
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import BenchmarkTask, ItemStatus, JobItem, Project


def get_task(session: Session, *, project_id: int, name: str) -> BenchmarkTask:
    found = session.scalar(select(BenchmarkTask).where(BenchmarkTask.project_id == project_id,
                                                       BenchmarkTask.name == name))
    if found is None:
        raise NotFound(f"There is no benchmark task '{name}' in this project; upload it first.")
    return found


@register
class BenchmarkKind(JobKind):
    name = "benchmark"
    title = "Multiple-choice benchmark"
    description = "Accuracy on a stored multiple-choice task, each choice scored by its log-likelihood."
    Params = BenchmarkParams
    result_template = "evaluation/_benchmark_result.html"
    stages = ("question", "choice", benchmark_lmeval.STAGE)
    has_work = True  # the lm-eval items: a harness run each, outside the engine's transactions

    def backends(self, params: BenchmarkParams) -> list[str]:
        return list(dict.fromkeys(params.models))

    def validate(self, session: Session, project: Project, params: BenchmarkParams) -> None:
        try:
            get_task(session, project_id=project.id, name=params.task)
        except NotFound as exc:
            raise ValidationFailed(exc.message, details=[{"field": "params.task", "message": exc.message}]) from exc
        if params.lm_eval and not params.tokenizer:
            for name in dict.fromkeys(params.models):
                with_server = not backend_config(session, name).is_local
                if with_server:
                    message = (f"Backend '{name}' is an OpenAI-compatible server: lm-evaluation-harness needs a "
                               "local tokenizer directory for it.")
                    raise ValidationFailed(message, details=[{"field": "params.tokenizer", "message": message}])

    def plan(self, ctx: JobContext) -> None:
        params: BenchmarkParams = ctx.params
        task = get_task(ctx.session, project_id=ctx.job.project_id, name=params.task)
        ctx.state["task_sha256"] = task.sha256
        ctx.save_state()
        rows = task.rows[: params.limit] if params.limit else task.rows
        bad, bad_outcomes, good = [], [], []
        for line, row in enumerate(rows, start=1):
            try:
                good.append((line, benchmarks.parse_item(row, line)))
            except benchmarks.BadItem as exc:
                bad.append({"line": line, "question": str(row)[:200]})
                bad_outcomes.append(Outcome.failed(f"line {line}: {exc}"))
        ctx.add_items("question", bad, outcomes=bad_outcomes)
        if params.lm_eval:
            benchmark_lmeval.plan(ctx, params, good)
        for model in dict.fromkeys(params.models) if params.builtin else ():
            ctx.add_items("choice", [{"model": model, "line": line, "id": q.id, "choice": i, "answer": q.answer,
                                      "choices": len(q.choices), "context": q.context(),
                                      "continuation": q.continuation(i)}
                                     for line, q in good for i in range(len(q.choices))])

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest | None:
        if item.stage != "choice":
            return None
        data = item.input
        # max_tokens 0 with echo: the server scores the prompt and generates nothing.
        return ModelRequest(backend=data["model"], prompt=data["context"] + data["continuation"], max_tokens=0,
                            temperature=0, logprobs=0, echo=True)

    def work(self, params: BenchmarkParams, item: JobItem) -> dict[str, Any] | None:
        return benchmark_lmeval.work(params, item) if item.stage == benchmark_lmeval.STAGE else None

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        if item.stage == benchmark_lmeval.STAGE:
            return benchmark_lmeval.handle(ctx, item)
        if response is None or not response.choices:
            return Outcome.failed("no answer to score")
        try:
            value = benchmarks.continuation_logprob(response.choices[0].logprobs, len(item.input["context"]))
        except benchmarks.BadItem as exc:
            return Outcome.failed(f"line {item.input['line']}, choice {item.input['choice']}: {exc}")
        return Outcome.done({"logprob": value})

    def finish(self, ctx: JobContext) -> None:
        params: BenchmarkParams = ctx.params
        rows = ctx.session.execute(select(JobItem.stage, JobItem.input, JobItem.output, JobItem.status,
                                          JobItem.error).where(JobItem.job_id == ctx.job.id)).all()
        malformed = sum(1 for stage, *_ in rows if stage == "question")
        # (model, line) → {choice index: (logprob or None when its item failed, continuation)}, and the answer
        per: dict[tuple[str, int], dict[int, tuple[float | None, str]]] = defaultdict(dict)
        answers: dict[int, tuple[int, int]] = {}
        for stage, data, output, status, _error in rows:
            if stage == "choice":
                value = output.get("logprob") if status == ItemStatus.done else None
                per[(data["model"], data["line"])][data["choice"]] = (value, data["continuation"])
                answers[data["line"]] = (data["answer"], data["choices"])
        scores: dict[str, Any] = {}
        for model in dict.fromkeys(params.models) if params.builtin else ():
            correct = correct_norm = scored = unscored = 0
            for (name, line), slot in per.items():
                if name != model:
                    continue
                answer, count = answers[line]
                values = [slot.get(i, (None, ""))[0] for i in range(count)]
                if any(v is None for v in values):
                    unscored += 1
                    continue
                outcome = benchmarks.score_choices([float(v) for v in values],  # type: ignore[arg-type]
                                                   [slot[i][1] for i in range(count)], answer)
                scored += 1
                correct += outcome["correct"]
                correct_norm += outcome["correct_norm"]
            scores[model] = {"accuracy": round(correct / scored, 6) if scored else None,
                             "accuracy_norm": round(correct_norm / scored, 6) if scored else None,
                             "n": scored, "unscored": unscored}
        ctx.job.result = {"task": params.task, "task_sha256": ctx.state.get("task_sha256"), "malformed": malformed,
                          "runner": params.runner, "scores": scores}
        if params.lm_eval:
            ctx.job.result["lm_eval"] = benchmark_lmeval.scores(
                [(data, output, status, error) for stage, data, output, status, error in rows
                 if stage == benchmark_lmeval.STAGE])

    def progress(self, job: Any) -> tuple[int, int]:
        done, total = super().progress(job)
        harness = benchmark_lmeval.progress(job)
        return (done + harness[0], total + harness[1]) if harness else (done, total)

    def summary(self, item: Any) -> tuple[str, str]:
        data, out = item.input or {}, item.output or {}
        if item.stage == benchmark_lmeval.STAGE:
            return benchmark_lmeval.summary(item)
        if item.stage == "question":
            return f"line {data.get('line')}: {data.get('question', '')}", ""
        asked = f"{data.get('model')} · line {data.get('line')} ·{data.get('continuation', '')}"
        return asked, f"logprob {out['logprob']:.4f}" if "logprob" in out else ""
