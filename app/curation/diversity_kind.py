"""The diversity kind: embeddings, near-duplicate groups at a cosine threshold, clusters with their sizes and
sample items, and the leakage check (near-duplicates of evaluation items are flagged: never exported for training).

Near-duplicates (all but the first of each group) and leaks are rejected items with the reason codes
`near_duplicate` and `leak`, so the job page counts and lists them.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.backends.requests import ModelResponse
from app.core.errors import ValidationFailed
from app.curation import clusters, leakage, phases, vectors
from app.curation.embedders import resolve
from app.curation.neardup import near_duplicate_pairs
from app.curation.schemas import DiversityParams
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import JobItem, Project

SHOWN_GROUPS = 10


@register
class DiversityKind(JobKind):
    name = "diversity"
    title = "Diversity and leakage"
    description = ("Embed the instructions, find near-duplicates above a cosine threshold, cluster them, and flag "
                   "near-duplicates of evaluation items so they are never exported for training.")
    Params = DiversityParams
    result_template = "curation/_diversity_result.html"
    stages = ("embed", "analyse")

    def validate(self, session: Session, project: Project, params: DiversityParams) -> None:
        resolve(session, params.embedding_model)
        if not phases.matching_ids(session, project.id, params.filter, training_only=False):
            raise ValidationFailed("No instruction of this project matches the filter.",
                                   details=[{"field": "params.filter", "message": "matches no instruction"}])

    def plan(self, ctx: JobContext) -> None:
        params: DiversityParams = ctx.params
        ids = phases.matching_ids(ctx.session, ctx.job.project_id, params.filter, training_only=False)
        references = leakage.evaluation_ids(ctx.session, ctx.job.project_id) if params.leakage else []
        phases.plan_embeddings(ctx, params.embedding_model, ids + references)
        ctx.state["phase"] = "embed"
        ctx.save_state()

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        return phases.handle_embed(ctx, item)

    def advance(self, ctx: JobContext) -> int:
        if ctx.state.get("phase") != "embed":
            return 0
        added = _analyse(ctx)
        ctx.state["phase"] = "analysed"
        ctx.save_state()
        return added

    def finish(self, ctx: JobContext) -> None:
        ctx.job.result = ctx.state.get("report", {})

    def summary(self, item: JobItem) -> tuple[str, str]:
        return phases.summary(item)


def _analyse(ctx: JobContext) -> int:
    params: DiversityParams = ctx.params
    session, project_id = ctx.session, ctx.job.project_id
    model = ctx.state["embedding"]["identity"]
    ids, matrix = vectors.load(session, model, phases.matching_ids(session, project_id, params.filter,
                                                                   training_only=False))
    id_list = ids.tolist()
    pairs = near_duplicate_pairs(matrix, params.threshold)
    found = clusters.groups(len(ids), pairs)
    best = {}
    for i, j, sim in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.sim.tolist(), strict=True):
        for a, b in ((i, j), (j, i)):
            if a not in best or sim > best[a][1]:
                best[a] = (b, sim)
    inputs, outcomes = [], []
    for group in found:
        for row in group[1:]:
            other, sim = best[row]
            inputs.append({"instruction_id": id_list[row]})
            outcomes.append(Outcome.rejected("near_duplicate", {"instruction_id": id_list[row],
                                                                "similar_to": id_list[other],
                                                                "similarity": round(sim, 4)}))
    leaks: dict[int, tuple[int, float]] = {}
    if params.leakage:
        training = set(phases.matching_ids(session, project_id, params.filter, training_only=True))
        rows = [r for r, i in enumerate(id_list) if i in training]
        ref_ids, ref_vecs = vectors.load(session, model, leakage.evaluation_ids(session, project_id))
        if rows and len(ref_ids):
            hits = leakage.find_leaks(matrix[rows], ref_vecs, params.threshold)
            leaks = {id_list[rows[r]]: (int(ref_ids[ref]), sim) for r, (ref, sim) in hits.items()}
        leakage.record(session, project_id=project_id, model=model, job_id=ctx.job.id,
                       checked=[id_list[r] for r in rows], leaks=leaks)
        for instruction_id, (ref, sim) in leaks.items():
            inputs.append({"instruction_id": instruction_id})
            outcomes.append(Outcome.rejected("leak", {"instruction_id": instruction_id, "evaluation_item": ref,
                                                      "similarity": round(sim, 4)}))
    shown = clusters.kmeans(matrix, params.clusters, params.samples) if len(ids) else []
    texts = phases.texts_of(session, list({*(id_list[r] for c in shown for r in c.samples),
                                           *(id_list[r] for g in found[:SHOWN_GROUPS] for r in g[:3]),
                                           *(d["instruction_id"] for d in inputs)}))
    for data in inputs:
        data["text"] = texts.get(data["instruction_id"], "")
    ctx.add_items("analyse", inputs, outcomes=outcomes)
    ctx.state["report"] = {
        "items": len(ids), "threshold": params.threshold, "embedding_model": model,
        "near_duplicate_pairs": len(pairs), "near_duplicate_groups": len(found),
        "in_groups": sum(len(g) for g in found), "redundant": sum(len(g) - 1 for g in found),
        "groups": [{"size": len(g), "samples": [{"id": id_list[r], "text": texts.get(id_list[r], "")}
                                                for r in g[:3]]} for g in found[:SHOWN_GROUPS]],
        "clusters": [{"size": c.size, "samples": [{"id": id_list[r], "text": texts.get(id_list[r], "")}
                                                  for r in c.samples]} for c in shown],
        "leaking": len(leaks)}
    return len(inputs)
