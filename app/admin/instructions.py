"""Admin page: the instruction browser with filters, search and bulk actions."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.admin import instructions_service as service
from app.admin.instructions_service import BrowseFilters
from app.annotation.schemas import FLAGS
from app.core.bounds import MAX_ID, Id
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import is_htmx, render
from app.models import InstructionStatus, Split
from app.users.deps import AdminUser

router = APIRouter(prefix="/admin/instructions")

DONE = {"set_split": "Split changed for {n} instruction(s).", "delete": "Deleted {n} instruction(s).",
        "requeue": "Sent {n} instruction(s) back to the annotation queue.",
        "evaluation_only": "{n} instruction(s) are now evaluation-only: never in a training export.",
        "training_data": "{n} instruction(s) are training data again."}


def _page(request, session, user, filters: BrowseFilters, after: int | None, *, errors=None, done="",
          status_code=200) -> Response:
    page = service.browse(session, filters=filters, after=after)
    if filters.errors and status_code == 200 and not is_htmx(request):
        status_code = 422  # a filter that cannot apply; HTMX swaps only 2xx, so there the inline error says it
    ctx = {"user": user, "nav": "admin", "section": "instructions", "page": page, "args": filters.as_args(),
           "errors": {**filters.errors, **(errors or {})}, "done": done, "flags": FLAGS,
           "statuses": [s.value for s in InstructionStatus], "splits": [s.value for s in Split], "after": after}
    return render(request, "admin/instructions.html", ctx, block="results", status_code=status_code)


@router.get("")
def browse(request: Request, session: SessionDep, user: AdminUser, project: str = "", status: str = "",
           split: str = "", source: str = "", flag: str = "", annotator: str = "", q: str = "", after: str = "",
           done: str = "") -> Response:
    filters = BrowseFilters(project=project, status=status, split=split, source=source, flag=flag,
                            annotator=annotator, q=q[:500])
    message = DONE.get(done.split(":")[0], "").format(n=done.split(":")[-1]) if done else ""
    cursor = int(after) if after.isdigit() and int(after) <= MAX_ID else None
    return _page(request, session, user, filters, cursor, done=message)


@router.post("/evaluation-only")
def evaluation_only(request: Request, session: SessionDep, user: AdminUser,
                    value: Annotated[str, Form(max_length=20)] = "evaluation_only",
                    project: Annotated[str, Form(max_length=100)] = "",
                    status: Annotated[str, Form(max_length=20)] = "", split: Annotated[str, Form(max_length=10)] = "",
                    source: Annotated[str, Form(max_length=200)] = "", flag: Annotated[str, Form(max_length=40)] = "",
                    annotator: Annotated[str, Form(max_length=20)] = "",
                    q: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Every instruction the current filters match, marked evaluation-only (or training data again)."""
    filters = BrowseFilters(project=project, status=status, split=split, source=source, flag=flag,
                            annotator=annotator, q=q)
    try:
        n = service.mark_matching(session, filters=filters, value=value == "evaluation_only")
    except (AppError, ValueError) as exc:
        return _page(request, session, user, filters, None, errors={"bulk": getattr(exc, "message", str(exc))},
                     status_code=getattr(exc, "status_code", 422))
    action = "evaluation_only" if value == "evaluation_only" else "training_data"
    query = urlencode({k: v for k, v in filters.as_args().items() if v})
    return RedirectResponse(f"/admin/instructions?{query}&done={action}:{n}", status_code=303)


@router.post("/bulk")
def bulk(request: Request, session: SessionDep, user: AdminUser, action: Annotated[str, Form(max_length=20)] = "",
         ids: Annotated[list[Id] | None, Form(max_length=10_000)] = None,
         split: Annotated[str, Form(max_length=10)] = "",
         back: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        n = service.bulk_action(session, ids=ids or [], action=action, split=split, by=user)
    except AppError as exc:
        return _page(request, session, user, BrowseFilters(), None, errors={"bulk": exc.message},
                     status_code=exc.status_code)
    query = back if back.startswith("?") else ""
    sep = "&" if query else "?"
    return RedirectResponse(f"/admin/instructions{query}{sep}done={action}:{n}", status_code=303)
