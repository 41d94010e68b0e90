"""The `judge` kind: models answer an evaluation set, then a judge scores each answer (1-10 with its reason) or
compares each model with the baseline in both orders; the result has win rates with a 95% interval, the
length-controlled win rate, tie and inconsistency counts, and the judge's agreement with the annotators."""

from __future__ import annotations

from statistics import mean, pstdev
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.evaluation import judges
from app.evaluation.answering import AnsweringKind, messages_of, question_of
from app.evaluation.calibration import calibrate
from app.evaluation.human import human_outcomes
from app.evaluation.lc_winrate import length_controlled
from app.evaluation.schemas import JudgeParams
from app.evaluation.winrate import BASELINE, MODEL, combine, win_rate
from app.jobs.context import JobContext
from app.jobs.kinds import register
from app.jobs.outcome import Outcome
from app.models import ItemStatus, Job, JobItem, Project

REWARD = "reward:"
ORDERS = ("model_first", "model_second")


def is_reward(judge: str) -> bool:
    return judge.startswith(REWARD)


@register
class JudgeKind(AnsweringKind):
    name = "judge"
    title = "Judge models on an evaluation set"
    description = ("Models answer an evaluation set; an LLM judge (or a reward model) scores each answer 1-10 or "
                   "compares each model with the baseline in both orders.")
    Params = JudgeParams
    result_template = "evaluation/_judge_result.html"
    stages = ("answer", "judge")

    def backends(self, params: JudgeParams) -> list[str]:
        names = super().backends(params)
        return names if is_reward(params.judge) or params.judge in names else [*names, params.judge]

    def validate(self, session: Session, project: Project, params: JudgeParams) -> None:
        super().validate(session, project, params)
        if is_reward(params.judge):
            from app.evaluation.reward import reward_run

            reward_run(session, params.judge.removeprefix(REWARD), field="params.judge")

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest | None:
        if item.stage == "answer":
            return self.answer_request(ctx, item)
        params: JudgeParams = ctx.params
        if is_reward(params.judge):
            return None
        # Asked again after "retry failed": a fresh request, not the stored reply that had no verdict.
        salt = f"retry-{item.attempts}" if item.attempts else None
        return ModelRequest(backend=params.judge, messages=item.input["messages"], temperature=0,
                            max_tokens=params.judge_max_tokens, salt=salt)

    def prepare(self, ctx: JobContext, items: list[JobItem]) -> None:
        self.prepare_answers(ctx, items)
        judged = [i for i in items if i.stage == "judge"]
        if judged and is_reward(ctx.params.judge):
            from app.evaluation.reward import reward_run, score_texts

            run = reward_run(ctx.session, ctx.params.judge.removeprefix(REWARD))
            texts = [(i.input["prompt"], answer) for i in judged for answer in i.input["answers"]]
            scores = iter(score_texts(run, texts))
            ctx.batch["rewards"] = {i.id: [next(scores) for _ in i.input["answers"]] for i in judged}

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        if item.stage == "answer":
            return self.handle_answer(ctx, item, response)
        params: JudgeParams = ctx.params
        if is_reward(params.judge):
            rewards = ctx.batch["rewards"][item.id]
            if params.mode == "single":
                return Outcome.done({"score": rewards[0], "reason": f"reward from {params.judge}"})
            verdict = "A" if rewards[0] > rewards[1] else "B" if rewards[1] > rewards[0] else "tie"
            return Outcome.done({"verdict": verdict, "rewards": rewards})
        text = response.text
        try:
            if params.mode == "single":
                rating = judges.parse_rating(text)
                return Outcome.done({"score": rating.score, "reason": rating.reason[:4000]})
            return Outcome.done({"verdict": judges.parse_pairwise(text), "reason": judges.reason_of(text)[:4000]})
        except judges.NoVerdict as exc:
            return Outcome.failed(f"The judge gave no verdict ({exc}). Its answer: {text[:1500]}", {"text": text})

    def advance(self, ctx: JobContext) -> int:
        if ctx.state.get("phase") != "answer":
            return 0
        ctx.state["phase"] = "judge"
        ctx.save_state()
        params: JudgeParams = ctx.params
        answers, members = self.answers(ctx), self.members(ctx)
        reward = is_reward(params.judge)
        inputs: list[dict[str, Any]] = []
        for index, member in enumerate(members):
            iid = member["instruction_id"]
            question = question_of(member)
            reference = member.get("reference") if params.use_reference else None
            if params.mode == "single":
                for model in params.models:
                    if iid not in answers.get(model, {}):
                        continue
                    text = answers[model][iid]
                    base = {"instruction_id": iid, "model": model, "index": index}
                    inputs.append({**base, "prompt": messages_of(member), "answers": [text]} if reward else
                                  {**base, "messages": judges.single_messages(question, text, reference=reference,
                                                                              criteria=params.criteria)})
                continue
            baseline = params.baseline_model
            for model in params.models:
                if model == baseline or iid not in answers.get(model, {}) or iid not in answers.get(baseline, {}):
                    continue
                mine, theirs = answers[model][iid], answers[baseline][iid]
                base = {"instruction_id": iid, "model": model, "baseline": baseline, "index": index}
                if reward:  # a reward model has no position to be biased by: one comparison per pair
                    inputs.append({**base, "order": "both", "prompt": messages_of(member), "answers": [mine, theirs]})
                    continue
                for order in ORDERS:
                    a, b = (mine, theirs) if order == "model_first" else (theirs, mine)
                    inputs.append({**base, "order": order, "messages": judges.pairwise_messages(
                        question, a, b, reference=reference, criteria=params.criteria)})
        return ctx.add_items("judge", inputs)

    def finish(self, ctx: JobContext) -> None:
        params: JudgeParams = ctx.params
        rows = ctx.session.execute(select(JobItem.input, JobItem.output, JobItem.status).where(
            JobItem.job_id == ctx.job.id, JobItem.stage == "judge")).all()
        result: dict[str, Any] = {"mode": params.mode, "judge": params.judge, "evaluation_set": params.evaluation_set,
                                  "set_sha256": ctx.state.get("set_sha256"), "models": self.answer_counts(ctx)}
        if params.mode == "single":
            result["scores"] = _single(params, rows)
        else:
            answers = self.answers(ctx)
            result["baseline"] = params.baseline_model
            result["comparisons"], result["verdicts"] = _pairwise(params, rows, answers)
            result["calibration"] = {
                model: calibrate(verdicts, human_outcomes(ctx.session, set_id=ctx.state["set_id"], model=model,
                                                          baseline=params.baseline_model))
                for model, verdicts in result["verdicts"].items()}
        ctx.job.result = result

    def result_context(self, session: Session, job: Job) -> dict[str, Any]:
        """Calibration as of now: human verdicts keep arriving after the judge has finished."""
        result = job.result or {}
        if result.get("mode") != "pairwise" or not (job.state or {}).get("set_id"):
            return {}
        return {"calibration": {model: calibrate(verdicts, human_outcomes(
            session, set_id=job.state["set_id"], model=model, baseline=result["baseline"]))
            for model, verdicts in (result.get("verdicts") or {}).items()}}

    def summary(self, item: Any) -> tuple[str, str]:
        data, out = item.input or {}, item.output or {}
        if item.stage == "answer":
            return f"{data.get('model')} answers #{data.get('instruction_id')}", str(out.get("text") or "")[:200]
        asked = f"#{data.get('instruction_id')}: {data.get('model')}" + (
            f" vs {data.get('baseline')} ({data.get('order')})" if data.get("baseline") else "")
        made = f"score {out['score']:g}" if "score" in out else f"verdict {out['verdict']}" if "verdict" in out else ""
        return asked, made


def _single(params: JudgeParams, rows: list[Any]) -> dict[str, Any]:
    scores: dict[str, list[float]] = {m: [] for m in params.models}
    failed = dict.fromkeys(params.models, 0)
    for data, output, status in rows:
        if status == ItemStatus.done:
            scores[data["model"]].append(float(output["score"]))
        elif status == ItemStatus.failed:
            failed[data["model"]] += 1
    return {m: {"mean": round(mean(v), 4) if v else None, "sd": round(pstdev(v), 4) if v else None, "n": len(v),
                "failed": failed[m]} for m, v in scores.items()}


def _pairwise(params: JudgeParams, rows: list[Any],
              answers: dict[str, dict[int, str]]) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    baseline = params.baseline_model
    verdicts: dict[tuple[str, int], dict[str, str | None]] = {}
    for data, output, status in rows:
        slot = verdicts.setdefault((data["model"], data["instruction_id"]), {})
        slot[data["order"]] = output.get("verdict") if status == ItemStatus.done else None
    comparisons: dict[str, Any] = {}
    outcomes_by_model: dict[str, dict[str, str]] = {}
    for model in (m for m in params.models if m != baseline):
        outcomes, prefs, mine, theirs, failed = [], [], [], [], 0
        per_instruction: dict[str, str] = {}
        for (name, iid), slot in sorted(verdicts.items(), key=lambda kv: kv[0][1]):
            if name != model:
                continue
            if "both" in slot:
                outcome = (None if slot["both"] is None else combine(slot["both"], _swap(slot["both"])))
            elif all(slot.get(o) is not None for o in ORDERS):
                outcome = combine(slot["model_first"], slot["model_second"])
            else:
                outcome = None
            if outcome is None:
                failed += 1
                continue
            outcomes.append(outcome)
            per_instruction[str(iid)] = outcome[0]
            prefs.append(1.0 if outcome[0] == MODEL else 0.0 if outcome[0] == BASELINE else 0.5)
            mine.append(len(answers[model][iid]))
            theirs.append(len(answers[baseline][iid]))
        summary = win_rate(outcomes).as_dict()
        lc = length_controlled(prefs, mine, theirs)
        comparisons[model] = {**summary, "lc_win_rate": lc["lc_win_rate"], "length_coef": lc["length_coef"],
                              "failed": failed, "avg_length": round(mean(mine), 1) if mine else None,
                              "baseline_avg_length": round(mean(theirs), 1) if theirs else None}
        outcomes_by_model[model] = per_instruction
    return comparisons, outcomes_by_model


def _swap(verdict: str) -> str:
    """The verdict a position-blind judge would give with the answers swapped."""
    return {"A": "B", "B": "A"}.get(verdict, verdict)
