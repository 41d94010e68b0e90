"""Review pages (reviewer and admin): the review list, one item side by side, and the decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.annotation.markdown import render_markdown
from app.core.bounds import MAX_ID, Id, RowId
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import is_htmx, render
from app.instructions import candidates
from app.models import ApprovalMethod, Role
from app.review import queries, service
from app.review.queries import ReviewFilters
from app.users.deps import AdminUser, ReviewerUser

router = APIRouter(include_in_schema=False)


def _number(raw: str | None, name: str, errors: dict[str, str], cast=float):
    """A query value as a number, or None; a bad value becomes an inline error, not a 422 page."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = cast(raw)
    except ValueError:
        errors[name] = f"'{raw}' is not a number."
        return None
    if cast is int and not 0 <= value <= MAX_ID:
        errors[name] = f"'{raw}' is out of range."
        return None
    return value


@router.get("/review")
def review_list(request: Request, session: SessionDep, user: ReviewerUser, project: str = "",
                annotator: str = "", status: str = "submitted", flag: str = "", tau_min: str = "",
                tau_max: str = "", after: str = "") -> Response:
    errors: dict[str, str] = {}
    filters = ReviewFilters(annotator_id=_number(annotator, "annotator", errors, int), status=status or None,
                            flag=flag or None, tau_min=_number(tau_min, "tau_min", errors),
                            tau_max=_number(tau_max, "tau_max", errors))
    args = {"project": project, "annotator": annotator, "status": status, "flag": flag, "tau_min": tau_min,
            "tau_max": tau_max}
    try:
        overview = queries.review_overview(session, filters=filters, project_slug=project or None,
                                           after=_number(after, "after", errors, int),
                                           with_figures=True)
    except AppError as exc:
        errors[(exc.details or [{}])[0].get("field", "form")] = exc.message
        overview = None
    ctx = {"user": user, "nav": "review", "overview": overview, "args": args, "errors": errors,
           "show_annotators": user.has_role(Role.admin),
           "flags": queries.FLAGS, "statuses": ["submitted", "approved", "rejected", "pending"]}
    # HTMX swaps only 2xx answers: there the inline errors are the message.
    status = 422 if errors and not is_htmx(request) else 200
    return render(request, "review/list.html", ctx, block="results", status_code=status)


@router.get("/review/{instruction_id}")
def review_view(request: Request, instruction_id: RowId, session: SessionDep, user: ReviewerUser,
                done: str = "") -> Response:
    item = queries.review_item(session, instruction_id=instruction_id)
    return render(request, "review/item.html", _item_ctx(user, item, done=done))


def _item_ctx(user, item, *, done: str = "", error: str | None = None, form_text: str | None = None,
              form_tiers: list[list[int]] | None = None) -> dict:
    return {"user": user, "nav": "review", "item": item, "done": done, "error": error, "form_text": form_text,
            "order": queries.approve_form_rows(item, form_tiers), "md": render_markdown, "flags": queries.FLAGS,
            "is_admin": user.has_role(Role.admin)}


def _back(instruction_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/review/{instruction_id}?done={done}", status_code=303)


def _item_with_error(request: Request, session, user, instruction_id: int, exc: AppError, text: str | None,
                     tiers: list[list[int]] | None = None):
    """The item again with the error, and the reviewer's form as they left it (text and order, ties kept)."""
    item = queries.review_item(session, instruction_id=instruction_id)
    ctx = _item_ctx(user, item, error=exc.message, form_text=text, form_tiers=tiers)
    ctx["error_field"] = (exc.details or [{}])[0].get("field")
    return render(request, "review/item.html", ctx, status_code=exc.status_code)


def form_tiers(ranking: list[int], tied: list[int]) -> list[list[int]]:
    """The approve form's order as tiers: an item ticked "tied" joins the tier of the item above it."""
    tiers: list[list[int]] = []
    for cid in ranking:
        if cid in tied and tiers:
            tiers[-1].append(cid)
        else:
            tiers.append([cid])
    return tiers


@router.post("/review/{instruction_id}/accept")
def accept(request: Request, instruction_id: RowId, session: SessionDep, user: ReviewerUser,
           annotation_id: Annotated[Id, Form()]) -> Response:
    try:
        service.approve_by_id(session, instruction_id=instruction_id, by=user, annotation_id=annotation_id,
                              method=ApprovalMethod.accepted)
    except AppError as exc:
        return _item_with_error(request, session, user, instruction_id, exc, None)
    return _back(instruction_id, "accepted")


@router.post("/review/{instruction_id}/approve")
def adjudicate(request: Request, instruction_id: RowId, session: SessionDep, user: ReviewerUser,
               final_response: Annotated[str, Form(max_length=100_000)] = "",
               ranking: Annotated[list[Id] | None, Form(max_length=1000)] = None,
               tied: Annotated[list[Id] | None, Form(max_length=1000)] = None) -> Response:
    """Approve with the reviewer's order. Ties travel as tiers: a consensus tie stays one unless unticked."""
    tiers = form_tiers(ranking or [], tied or [])
    try:
        service.approve_by_id(session, instruction_id=instruction_id, by=user, final_response=final_response,
                              ranking=tiers or None, method=ApprovalMethod.adjudicated)
    except AppError as exc:
        return _item_with_error(request, session, user, instruction_id, exc, final_response, tiers)
    return _back(instruction_id, "approved")


@router.post("/review/{instruction_id}/reject")
def reject(instruction_id: RowId, session: SessionDep, user: ReviewerUser) -> Response:
    service.reject_by_id(session, instruction_id=instruction_id, by=user)
    return _back(instruction_id, "rejected")


@router.post("/review/{instruction_id}/candidates/{candidate_id}/remove")
def remove_candidate(instruction_id: RowId, candidate_id: RowId, session: SessionDep, user: AdminUser) -> Response:
    """An admin removes a candidate (see app.instructions.candidates for what happens to its rankings)."""
    done = candidates.remove_candidate(session, candidate_id=candidate_id, instruction_id=instruction_id)
    return _back(instruction_id, f"removed:{done.annotations_changed}:{done.approvals_changed}:"
                                 f"{done.approvals_withdrawn}")
