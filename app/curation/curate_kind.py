"""The curate kind: choose exactly N items that maximise quality under a diversity constraint (DEITA's score-first
selection with a cosine threshold, or k-center) and save them into a named subset, round after round.

Phases: embed every candidate, held member and evaluation item (stored vectors are reused); ask the judge for
candidates it has not scored (when `quality.backend` is set); then select, once, in `advance`: one item per
candidate considered, done when admitted, rejected with a reason code when not.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.core.errors import AppError, ValidationFailed
from app.curation import leakage, phases, scores, subsets, vectors
from app.curation.embedders import resolve
from app.curation.schemas import CurateParams
from app.curation.select import NotEnough
from app.curation.select import select as choose
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import JobItem, Project


def _held(session: Session, project_id: int, name: str) -> list[int]:
    subset = subsets.find(session, project_id, name)
    return subsets.member_ids(session, subset.id) if subset else []


@register
class CurateKind(JobKind):
    name = "curate"
    title = "Curate a subset"
    description = ("Choose exactly N diverse, high-quality instructions (DEITA score-first or k-center) into a named "
                   "subset that exports can use; a later round adds to it without readmitting a near-duplicate.")
    Params = CurateParams
    result_template = "curation/_curate_result.html"
    stages = ("embed", "judge", "select")

    def backends(self, params: CurateParams) -> list[str]:
        return [params.quality.backend] if params.quality and params.quality.backend else []

    def validate(self, session: Session, project: Project, params: CurateParams) -> None:
        subsets.check_name(params.subset)
        resolve(session, params.embedding_model)
        matching = phases.matching_ids(session, project.id, params.filter, training_only=True)
        held = set(_held(session, project.id, params.subset))
        available = len([i for i in matching if i not in held])
        if params.target_n > available:
            kept = f"; {len(matching) - available} of them are already in subset '{params.subset}'" if held else ""
            message = (f"target_n {params.target_n} is more than the {available} instructions available: the filter "
                       f"matches {len(matching)} training instructions{kept}.")
            raise ValidationFailed(message, details=[{"field": "params.target_n", "message": message}])

    def plan(self, ctx: JobContext) -> None:
        params: CurateParams = ctx.params
        project_id = ctx.job.project_id
        held = _held(ctx.session, project_id, params.subset)
        held_set = set(held)
        candidates = [i for i in phases.matching_ids(ctx.session, project_id, params.filter, training_only=True)
                      if i not in held_set]
        references = leakage.evaluation_ids(ctx.session, project_id) if params.leakage else []
        phases.plan_embeddings(ctx, params.embedding_model, held + candidates + references)
        if params.quality and params.quality.backend:
            phases.plan_judging(ctx, candidates, backend=params.quality.backend, dimension=params.quality.dimension,
                                rescore=False)
        ctx.state["phase"] = "gather"
        ctx.save_state()

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest | None:
        return phases.judge_request(item) if item.stage == "judge" else None

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        if item.stage == "embed":
            return phases.handle_embed(ctx, item)
        return phases.handle_judge(ctx, item, response)

    def advance(self, ctx: JobContext) -> int:
        if ctx.state.get("phase") != "gather":
            return 0
        added = Selector(ctx).run()
        ctx.state["phase"] = "selected"
        ctx.save_state()
        return added

    def finish(self, ctx: JobContext) -> None:
        params: CurateParams = ctx.params
        subset = subsets.find(ctx.session, ctx.job.project_id, params.subset)
        ctx.job.result = {"subset": params.subset, "selected": ctx.state.get("selected", 0),
                          "subset_size": subset.size if subset else 0, "rounds": subset.rounds if subset else 0,
                          **ctx.state.get("report", {})}

    def summary(self, item: JobItem) -> tuple[str, str]:
        return phases.summary(item)


class Selector:
    """The selection phase: candidates filtered by leakage, rules and quality, then chosen under the threshold."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.params: CurateParams = ctx.params
        self.session = ctx.session
        self.project_id = ctx.job.project_id
        self.model = ctx.state["embedding"]["identity"]

    def run(self) -> int:
        params = self.params
        held = _held(self.session, self.project_id, params.subset)
        held_set = set(held)
        candidates = [i for i in phases.matching_ids(self.session, self.project_id, params.filter,
                                                     training_only=True) if i not in held_set]
        gate = params.quality
        used, ranking = scores.rank_scores(self.session, self.project_id, params.rank_by,
                                           gate.backend if gate else None)
        refused: dict[int, tuple[str, dict]] = {}
        cand_ids, cand_vecs = vectors.load(self.session, self.model, candidates)
        for missing in set(candidates) - set(cand_ids.tolist()):
            refused[missing] = ("no_embedding", {})
        leaks = self._leaks(cand_ids, cand_vecs) if params.leakage else {}
        for i, (ref, sim) in leaks.items():
            refused[i] = ("leak", {"evaluation_item": ref, "similarity": round(sim, 4)})
        if params.skip_rule_failures:
            considered = set(candidates)
            for i, reason in scores.rule_failures(self.session, self.project_id).items():
                if i in considered:  # an evaluation item, a held member or one outside the filter was never a candidate
                    refused.setdefault(i, ("quality_rules", {"rule": reason}))
        if gate and gate.min_score is not None:
            for i in cand_ids.tolist():
                if i in refused:
                    continue
                if i not in ranking:
                    refused[i] = ("unscored", {})
                elif ranking[i] < gate.min_score:
                    refused[i] = ("low_quality", {"score": ranking[i]})
        keep = np.asarray([i not in refused for i in cand_ids.tolist()], dtype=bool)
        pool_ids, pool = cand_ids[keep], cand_vecs[keep]
        held_ids, held_vecs = vectors.load(self.session, self.model, held)
        if len(held_ids) < len(held):
            # Without every held vector a near-duplicate of what the subset holds could slip in: stop instead.
            raise AppError(f"{len(held) - len(held_ids)} of the {len(held)} items subset '{params.subset}' holds "
                           f"have no embedding under {self.model} (an embed item failed): retry the failed items.")
        score_array = np.asarray([ranking.get(i, np.nan) for i in pool_ids.tolist()], dtype=np.float64)
        try:
            both = np.concatenate([held_vecs, pool]) if len(held_vecs) else pool
            choice = choose(both, len(held_ids), score_array, params.target_n, params.threshold,
                            strategy=params.strategy)
        except NotEnough as short:
            raise AppError(self._short_message(short, len(candidates), refused)) from short
        return self._write(choice, pool_ids, held_ids, score_array, refused, used, leaks)

    def _leaks(self, cand_ids: np.ndarray, cand_vecs: np.ndarray) -> dict[int, tuple[int, float]]:
        ref_ids, ref_vecs = vectors.load(self.session, self.model, leakage.evaluation_ids(self.session,
                                                                                          self.project_id))
        found = leakage.find_leaks(cand_vecs, ref_vecs, self.params.threshold) if len(ref_ids) else {}
        leaks = {int(cand_ids[row]): (int(ref_ids[ref]), sim) for row, (ref, sim) in found.items()}
        leakage.record(self.session, project_id=self.project_id, model=self.model, job_id=self.ctx.job.id,
                       checked=cand_ids.tolist(), leaks=leaks)
        return leaks

    def _short_message(self, short: NotEnough, candidates: int, refused: dict[int, tuple[str, dict]]) -> str:
        counts: dict[str, int] = {}
        for reason, _ in refused.values():
            counts[reason] = counts.get(reason, 0) + 1
        left_out = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(counts.items()))
        return (f"Only {short.available} of the {short.target} asked for can be added to subset "
                f"'{self.params.subset}': of {candidates} candidates"
                + (f", {left_out} were left out" if left_out else "")
                + f", and the rest are near-duplicates (cosine >= {self.params.threshold:g}) of items chosen or held. "
                f"Ask for at most {short.available}, raise the threshold, or widen the filter. Nothing was saved; the "
                "embeddings and scores computed are kept for the next try.")

    def _write(self, choice, pool_ids: np.ndarray, held_ids: np.ndarray, score_array: np.ndarray,
               refused: dict[int, tuple[str, dict]], used: str, leaks: dict) -> int:
        params = self.params
        held_count = len(held_ids)
        all_ids = np.concatenate([held_ids, pool_ids]).tolist()
        chosen_ids = [int(pool_ids[c]) for c in choice.chosen]
        chosen_scores = [None if np.isnan(score_array[c]) else float(score_array[c]) for c in choice.chosen]
        meta = {"method": params.strategy, "threshold": params.threshold, "embedding_model": self.model,
                "rank_by": used}
        subset = subsets.add_members(self.session, project_id=self.project_id, name=params.subset,
                                     instruction_ids=chosen_ids, scores=chosen_scores, job_id=self.ctx.job.id,
                                     meta=meta, user_id=self.ctx.job.created_by_id)
        inputs, outcomes = [], []
        for position, (instruction_id, score) in enumerate(zip(chosen_ids, chosen_scores, strict=True)):
            inputs.append({"instruction_id": instruction_id})
            outcomes.append(Outcome.done({"instruction_id": instruction_id, "score": score, "position": position}))
        for cand, (other, sim) in choice.near_duplicates.items():
            instruction_id = int(pool_ids[cand])
            inputs.append({"instruction_id": instruction_id})
            outcomes.append(Outcome.rejected("near_duplicate", {
                "instruction_id": instruction_id, "similar_to": int(all_ids[other]), "similarity": round(sim, 4),
                "held": other < held_count}))
        for instruction_id, (reason, detail) in refused.items():
            inputs.append({"instruction_id": instruction_id})
            outcomes.append(Outcome.rejected(reason, {"instruction_id": instruction_id, **detail}))
        texts = phases.texts_of(self.session, [d["instruction_id"] for d in inputs])
        for data in inputs:
            data["text"] = texts.get(data["instruction_id"], "")
        self.ctx.add_items("select", inputs, outcomes=outcomes)
        size = subset.size
        self.ctx.state["selected"] = len(chosen_ids)
        self.ctx.state["report"] = {"ranked_by": used, "held_before": held_count, "candidates": len(pool_ids),
                                    "near_duplicates_skipped": len(choice.near_duplicates), "leaking": len(leaks),
                                    "left_out": {r: sum(1 for v in refused.values() if v[0] == r)
                                                 for r in sorted({v[0] for v in refused.values()})},
                                    "threshold": params.threshold, "strategy": params.strategy,
                                    "embedding_model": self.model, "subset_size": size}
        return len(inputs)
