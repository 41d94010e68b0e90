"""Form helpers for admin pages: pydantic errors as {field: message} for inline display."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from app.core.errors import AppError
from app.core.forms import plain_message


def field_errors(exc: ValidationError | AppError) -> dict[str, str]:
    """{field name: message}; nested settings fields are named by their last part (the form's input name)."""
    if isinstance(exc, AppError):
        out = {}
        for d in exc.details or [{}]:
            out[str(d.get("field") or "form")] = exc.message
        return out
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        name = loc[-1] if loc else "form"
        errors.setdefault(name, plain_message(err))
    return errors


def parse(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """Validate a form's values with a schema; raises ValidationError with the schema's messages."""
    return model.model_validate(data)


def checkbox(value: str | None) -> bool:
    return value not in (None, "", "0", "off", "false")


def blank_to_none(value: str | None) -> str | None:
    return None if value is None or value.strip() == "" else value.strip()
