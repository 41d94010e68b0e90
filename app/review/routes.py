"""Review pages (reviewer and admin): the review list, one item side by side, and the decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.annotation.markdown import render_markdown
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import render
from app.models import ApprovalMethod, Role
from app.review import queries, service
from app.review.queries import ReviewFilters
from app.users.deps import ReviewerUser

router = APIRouter(include_in_schema=False)


def _number(raw: str | None, name: str, errors: dict[str, str], cast=float):
    """A query value as a number, or None; a bad value becomes an inline error, not a 422 page."""
    if raw is None or raw.strip() == "":
        return None
    try:
        return cast(raw)
    except ValueError:
        errors[name] = f"'{raw}' is not a number."
        return None


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
    return render(request, "review/list.html", ctx, block="results")


@router.get("/review/{instruction_id}")
def review_view(request: Request, instruction_id: int, session: SessionDep, user: ReviewerUser,
                done: str = "") -> Response:
    item = queries.review_item(session, instruction_id=instruction_id)
    return render(request, "review/item.html", _item_ctx(user, item, done=done))


def _item_ctx(user, item, *, done: str = "", error: str | None = None, form_text: str | None = None) -> dict:
    return {"user": user, "nav": "review", "item": item, "done": done, "error": error, "form_text": form_text,
            "md": render_markdown, "flags": queries.FLAGS}


def _back(instruction_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/review/{instruction_id}?done={done}", status_code=303)


def _item_with_error(request: Request, session, user, instruction_id: int, exc: AppError, text: str | None):
    item = queries.review_item(session, instruction_id=instruction_id)
    ctx = _item_ctx(user, item, error=exc.message, form_text=text)
    return render(request, "review/item.html", ctx, status_code=exc.status_code)


@router.post("/review/{instruction_id}/accept")
def accept(request: Request, instruction_id: int, session: SessionDep, user: ReviewerUser,
           annotation_id: Annotated[int, Form()]) -> Response:
    try:
        service.approve_by_id(session, instruction_id=instruction_id, by=user, annotation_id=annotation_id,
                              method=ApprovalMethod.accepted)
    except AppError as exc:
        return _item_with_error(request, session, user, instruction_id, exc, None)
    return _back(instruction_id, "accepted")


@router.post("/review/{instruction_id}/approve")
def adjudicate(request: Request, instruction_id: int, session: SessionDep, user: ReviewerUser,
               final_response: Annotated[str, Form(max_length=100_000)] = "",
               ranking: Annotated[list[int] | None, Form()] = None) -> Response:
    try:
        service.approve_by_id(session, instruction_id=instruction_id, by=user, final_response=final_response,
                              ranking=ranking or None, method=ApprovalMethod.adjudicated)
    except AppError as exc:
        return _item_with_error(request, session, user, instruction_id, exc, final_response)
    return _back(instruction_id, "approved")


@router.post("/review/{instruction_id}/reject")
def reject(instruction_id: int, session: SessionDep, user: ReviewerUser) -> Response:
    service.reject_by_id(session, instruction_id=instruction_id, by=user)
    return _back(instruction_id, "rejected")
