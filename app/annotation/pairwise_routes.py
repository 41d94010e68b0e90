"""Pages of the human pairwise task: the next pair of a comparison, submit, skip (HTMX swaps the task block)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.annotation import pairwise
from app.annotation.timing import RowId
from app.core.db import SessionDep
from app.core.errors import ValidationFailed
from app.core.templating import is_htmx, render
from app.evaluation.human import get_comparison
from app.users.deps import CurrentUser

router = APIRouter(include_in_schema=False)
PAGE = "annotation/pairwise.html"


def _page(request: Request, user, ctx, *, status_code: int = 200) -> Response:
    comparison = ctx["comparison"]
    headers = {"HX-Push-Url": f"/comparisons/{comparison.id}/annotate"}
    return render(request, PAGE, {"user": user, "project": comparison.project, **ctx}, block="task",
                  status_code=status_code, headers=headers)


def _open_comparison(session, comparison_id: int, user):
    comparison = get_comparison(session, comparison_id)
    if not comparison.open:
        raise ValidationFailed(f"Comparison {comparison.id} is closed.")
    return comparison


@router.get("/comparisons/{comparison_id}/annotate")
def annotate(request: Request, comparison_id: int, session: SessionDep, user: CurrentUser) -> Response:
    comparison = _open_comparison(session, comparison_id, user)
    verdict = pairwise.next_verdict(session, comparison=comparison, user=user)
    return _page(request, user, pairwise.task_context(session, comparison=comparison, verdict=verdict))


@router.post("/verdicts/{verdict_id}/submit")
async def submit(request: Request, verdict_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    form = await request.form()
    verdict = pairwise.own_verdict(session, verdict_id=verdict_id, user=user)
    comparison = get_comparison(session, verdict.comparison_id)
    choices = {c["key"]: str(form.get(f"criterion_{c['key']}") or "") for c in comparison.criteria}
    overall = str(form.get("overall") or "")
    try:
        pairwise.submit(session, verdict=verdict, comparison=comparison, choices=choices, overall=overall,
                        comment=str(form.get("comment") or ""))
    except ValidationFailed as exc:
        ctx = pairwise.task_context(session, comparison=comparison, verdict=verdict, errors=exc.details,
                                    kept={**choices, "overall": overall})
        return _page(request, user, ctx, status_code=200 if is_htmx(request) else 422)
    nxt = pairwise.next_verdict(session, comparison=comparison, user=user)
    return _page(request, user, pairwise.task_context(session, comparison=comparison, verdict=nxt))


@router.post("/verdicts/{verdict_id}/skip")
def skip(request: Request, verdict_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    verdict = pairwise.own_verdict(session, verdict_id=verdict_id, user=user)
    comparison = get_comparison(session, verdict.comparison_id)
    pairwise.skip(session, verdict=verdict)
    nxt = pairwise.next_verdict(session, comparison=comparison, user=user)
    return _page(request, user, pairwise.task_context(session, comparison=comparison, verdict=nxt))
