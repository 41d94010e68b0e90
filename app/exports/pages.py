"""Browser pages: the exports list with its create form, and one export's live status, preview and download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.core.bounds import RowId
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.forms import inline_errors, invalid_form
from app.core.templating import render
from app.exports import manifest, service
from app.exports.schemas import FILE_FORMATS, FORMATS, ExportCreate
from app.models import ExportStatus
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)
LIVE = (ExportStatus.queued, ExportStatus.running)


def parse_form(form: dict[str, Any], multi: dict[str, list[str]]) -> tuple[str, ExportCreate]:
    """The create form as (project slug, ExportCreate); raises ValidationError naming the bad fields."""
    filters: dict[str, Any] = {}
    if multi.get("split"):
        filters["split"] = multi["split"]
    if (form.get("source") or "").strip():
        filters["source"] = [s.strip() for s in form["source"].split(",") if s.strip()]
    meta = {}
    for line in (form.get("metadata") or "").splitlines():
        if line.strip():
            key, sep, value = line.partition("=")
            # A line without '=' becomes an empty key, which the schema rejects with a message.
            meta[key.strip() if sep else ""] = value.strip()
    if meta:
        filters["metadata"] = meta
    if (form.get("approved_since") or "").strip():
        filters["approved_since"] = form["approved_since"]
    if (form.get("annotator_id") or "").strip():
        filters["annotator_id"] = form["annotator_id"]
    if (form.get("subset") or "").strip():
        filters["subset"] = form["subset"].strip()
    data = {
        "format": form.get("format") or "",
        "preference_style": form.get("preference_style") or "plain",
        "eval_fraction": form.get("eval_fraction") or 0,
        "seed": form.get("seed") or 0,
        "dedupe": form.get("dedupe") == "on",
        "include_holdout": form.get("include_holdout") == "on",
        "filters": filters,
    }
    if form.get("file_format"):
        data["file_format"] = form["file_format"]
    mixture = _mixture_form(form)
    if mixture is not None:
        data["mixture"] = mixture
    return str(form.get("project") or ""), ExportCreate.model_validate(data)


def _pairs(text: str | None) -> dict[str, str] | None:
    """"key=value" lines as a dict (a line without '=' becomes an empty key, which validation names)."""
    out = {}
    for line in (text or "").splitlines():
        if line.strip():
            key, sep, value = line.partition("=")
            out[key.strip() if sep else ""] = value.strip()
    return out or None


def _mixture_form(form: dict[str, Any]) -> dict[str, Any] | None:
    """The mixture fieldset: a preset or custom weights, the total, caps, setting split, inverted weight."""
    preset = (form.get("mixture_preset") or "").strip()
    if not preset:
        return None
    mixture: dict[str, Any] = {"total": form.get("mixture_total") or None,
                               "reviewed_only": form.get("mixture_reviewed_only") == "on"}
    if preset != "custom":
        mixture["preset"] = preset
    for field in ("weights", "caps", "settings"):
        value = _pairs(form.get(f"mixture_{field}"))
        if value is not None:
            mixture[field] = value
    if (form.get("mixture_inverted_weight") or "").strip():
        mixture["inverted_weight"] = form["mixture_inverted_weight"]
    return mixture


def _page(request: Request, session, user, *, form: dict[str, Any] | None = None,
          errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    ctx = {"user": user, "nav": "exports", **service.page_data(session), "formats": FORMATS,
           "file_formats": FILE_FORMATS, "form": form or {"dedupe": "on", "seed": "0", "eval_fraction": "0"},
           "errors": errors or {}, "live": LIVE}
    return render(request, "exports/list.html", ctx, block="list", status_code=status_code)


@router.get("/exports")
def exports_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    return _page(request, session, user)


@router.post("/exports")
async def create_export(request: Request, session: SessionDep, user: AdminUser) -> Response:
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    multi = {"split": [v for v in raw.getlist("split") if isinstance(v, str)]}
    try:
        slug, data = parse_form(form, multi)
        export = service.create_export(session, project_slug=slug, data=data, user=user)
    except ValidationError as exc:
        return _form_error(request, session, user, form, inline_errors(invalid_form(exc, _input_name)))
    except AppError as exc:
        on_subset = any(d.get("field") == "filters.subset" for d in exc.details)
        return _form_error(request, session, user, form, {"subset" if on_subset else "form": exc.message})
    return RedirectResponse(f"/exports/{export.id}", status_code=303)


INPUTS = ("format", "file_format", "preference_style", "eval_fraction", "seed", "split", "source", "metadata",
          "approved_since", "annotator_id", "dedupe", "include_holdout")


def _input_name(loc: tuple) -> str:
    """The form input an ExportCreate error is about (the first part of its location that names one)."""
    return next((str(part) for part in loc if part in INPUTS), "form")


def _form_error(request: Request, session, user, form, errors) -> Response:
    session.rollback()
    return render(request, "exports/list.html",
                  {"user": user, "nav": "exports", **service.page_data(session), "formats": FORMATS,
                   "file_formats": FILE_FORMATS, "form": form, "errors": errors, "live": LIVE},
                  status_code=422)


@router.get("/exports/list")
def exports_list_fragment(request: Request, session: SessionDep, user: AdminUser) -> Response:
    """The list alone, polled while an export is queued or running."""
    return _page(request, session, user)


@router.get("/exports/{export_id}")
def export_page(export_id: RowId, request: Request, session: SessionDep, user: AdminUser) -> Response:
    export = service.get_export(session, export_id)
    return render(request, "exports/detail.html", {"user": user, "nav": "exports", "export": export, "live": LIVE,
                                                   "mixture": _mixture(export)}, block="status")


def _mixture(export) -> dict | None:
    """A mixture export's recipe and what was realised, from its manifest (None for other exports)."""
    if export.status.value != "succeeded" or not export.path or not (export.options or {}).get("mixture"):
        return None
    try:
        mixture = manifest.read(Path(export.path))["content"].get("mixture")
    except (OSError, ValueError, KeyError):
        return None  # the folder was removed: the page still shows the rest
    if not mixture:
        return None
    realised = mixture["realised"]
    # "Met": every named source within two points of its weight (the sampler's guarantee), or within one row
    # of it in a mixture too small for two points to be a row.
    tolerance = max(0.02, 1 / max(realised.get("rows") or 1, 1))
    for row in realised["by_source"].values():
        row["met"] = row["weight"] <= 0 or abs(row["share"] - row["weight"]) <= tolerance + 1e-9
    return {"recipe": mixture.get("recipe", {}), "realised": realised,
            "met": all(r["met"] for r in realised["by_source"].values())}
