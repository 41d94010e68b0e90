"""The task page's form fields, parsed into the same input schemas the API uses."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from app.annotation.schemas import DraftIn, FeedbackIn
from app.core.errors import ValidationFailed, pydantic_details


def _fields(form) -> dict[str, Any]:
    try:
        ranking = json.loads(form.get("ranking") or "[]")
    except ValueError:
        ranking = []
    if not isinstance(ranking, list):
        ranking = []
    mode = form.get("correction_mode") or "none"
    source = form.get("corrected_candidate_id") or ""
    ratings = {key[len("rating_"):]: value for key, value in form.multi_items()
               if key.startswith("rating_") and value}
    # Corrected earlier assistant turns; the service keeps only those that differ from the turn as it was.
    turn_edits = {key[len("turn_edit_"):]: value for key, value in form.multi_items()
                  if key.startswith("turn_edit_") and isinstance(value, str)}
    return {
        "ranking": ranking,
        "all_bad": form.get("all_bad") in ("1", "on", "true"),
        "correction": (form.get("correction") or "") if mode in ("edit", "new") else None,
        "corrected_candidate_id": int(source) if mode == "edit" and source.isdigit() else None,
        "ratings": ratings,
        "turn_edits": turn_edits,
        "flags": form.getlist("flags"),
        "comment": form.get("comment") or "",
    }


def draft_from_form(form) -> DraftIn:
    """A draft from the form; malformed parts are reported as 422 like the API would."""
    try:
        return DraftIn.model_validate(_fields(form))
    except ValidationError as exc:
        raise ValidationFailed("The draft is not valid.", details=pydantic_details(list(exc.errors()))) from exc


def feedback_from_form(form) -> FeedbackIn:
    """The submission: a ranking with gaps is reported by the service as incomplete, not dropped."""
    fields = _fields(form)
    ranked = fields["ranking"]
    if any(r is None for r in ranked):
        fields["ranking"] = [r for r in ranked if r is not None] or []
    try:
        return FeedbackIn.model_validate(fields)
    except ValidationError as exc:
        raise ValidationFailed("The annotation is not valid.", details=pydantic_details(list(exc.errors()))) from exc
