"""Jinja2 with block rendering: a page and its HTMX fragments come from one template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup

from app import __version__
from app.models.user import Role

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"

templates = Jinja2Blocks(directory=str(TEMPLATE_DIR))
templates.env.autoescape = True
templates.env.globals["app_version"] = __version__
templates.env.globals["Role"] = Role


def _csrf_token(request: Any) -> str:
    fn = request.scope.get("csrftoken")
    return fn() if callable(fn) else ""


def _csrf_input(request: Any) -> Markup:
    return Markup('<input type="hidden" name="csrftoken" value="{}">').format(_csrf_token(request))


def _pretty_json(value: Any) -> str:
    """JSON for people to read (indented, characters as they are); autoescape makes it safe in the page."""
    import json

    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


templates.env.filters["pretty_json"] = _pretty_json
templates.env.globals["csrf_token"] = _csrf_token
templates.env.globals["csrf_input"] = _csrf_input


def is_htmx(request: Any) -> bool:
    # A history-restore request wants the full page even though HTMX sent it.
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def render(request: Any, name: str, context: dict[str, Any] | None = None, *, block: str | None = None,
           status_code: int = 200, headers: dict[str, str] | None = None):
    """The full page, or only `block` when HTMX asks for it. Always varies on HX-Request."""
    ctx = {"request": request, **(context or {})}
    hdrs = {"Vary": "HX-Request", **(headers or {})}
    if block and is_htmx(request):
        return templates.TemplateResponse(request, name, ctx, block_name=block, status_code=status_code, headers=hdrs)
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=hdrs)
