"""The rounds of the loop, one per succeeded run: the snapshot it was trained on, what annotators did with the
generated candidates of that round (acceptance, edit distance), and the judged win rate over the previous round."""

from __future__ import annotations

from statistics import mean
from typing import Any

from rapidfuzz.distance import Levenshtein
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.evaluation.lineage import (
    approval_ids,
    evaluation_jobs,
    policy_runs,
    run_ref,
    win_rate_against,
)
from app.models import Annotation, AnnotationStatus, Approval, Candidate, CandidateOrigin, Project


def _generated_and_edits(session: Session, new_ids: list[int]) -> dict[str, Any]:
    """Over the round's new approvals: model-generated candidates and how many were accepted (chosen as the
    final response, or edited into it), and the mean normalised edit distance of annotators' corrections."""
    generated = accepted = 0
    distances: list[float] = []
    for start in range(0, len(new_ids), 2000):
        approvals = session.execute(select(Approval.instruction_id, Approval.final_candidate_id)
                                    .where(Approval.id.in_(new_ids[start:start + 2000]))).all()
        by_instruction = dict(approvals)
        if not by_instruction:
            continue
        corrected = {}
        for iid, cid, correction in session.execute(
                select(Annotation.instruction_id, Annotation.corrected_candidate_id, Annotation.correction).where(
                    Annotation.instruction_id.in_(by_instruction), Annotation.status == AnnotationStatus.submitted,
                    Annotation.corrected_candidate_id.is_not(None))):
            corrected.setdefault(iid, []).append((cid, correction or ""))
        texts = {}
        for cid, iid, text, origin in session.execute(
                select(Candidate.id, Candidate.instruction_id, Candidate.text, Candidate.origin)
                .where(Candidate.instruction_id.in_(by_instruction))):
            texts[cid] = text
            if origin == CandidateOrigin.model:
                generated += 1
                edited = any(c == cid for c, _ in corrected.get(iid, []))
                accepted += int(by_instruction[iid] == cid or edited)
        for pairs in corrected.values():
            distances += [Levenshtein.normalized_distance(texts[c], text) for c, text in pairs if c in texts]
    return {"generated": generated, "accepted": accepted,
            "acceptance_rate": round(accepted / generated, 4) if generated else None,
            "edits": len(distances), "edit_distance": round(mean(distances), 4) if distances else None}


def project_rounds(session: Session, project: Project) -> list[dict[str, Any]]:
    rows = []
    previous_ids: set[int] = set()
    previous_ref: str | None = None
    for number, run in enumerate(policy_runs(session, project.id), start=1):
        ids = approval_ids(run)
        new = sorted(set(ids or []) - previous_ids)
        model = run_ref(run.id)
        win = win_rate_against(evaluation_jobs(session, project.id, model), model, previous_ref)
        rows.append({
            "round": number, "run_id": run.id, "run_name": run.name, "method": run.method,
            "snapshot": {"export_id": run.export_id, "version": run.export.version, "format": run.export.format,
                         "sha256": run.export.sha256, "rows": run.export.row_counts or {},
                         "approvals": len(ids) if ids is not None else None, "new_approvals": len(new)},
            **_generated_and_edits(session, new),
            "win_rate": win.get("win_rate") if win else None, "ci_low": win.get("ci_low") if win else None,
            "ci_high": win.get("ci_high") if win else None, "lc_win_rate": win.get("lc_win_rate") if win else None,
            "vs": win.get("vs") if win else previous_ref, "judge_job_id": win.get("job_id") if win else None,
        })
        previous_ids |= set(ids or [])
        previous_ref = model
    return rows
