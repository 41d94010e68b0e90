"""Form errors a person can act on: pydantic's errors named by the form's own inputs, in plain words.

A page validates its form with the API's schema, then shows each message beside the input it is about
(the input's label is right there) and renders the form again with what was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from app.core.errors import ValidationFailed

_WORDS = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be on or off",
    "missing": "is required",
    "literal_error": "is not one of the choices",
    "enum": "is not one of the choices",
}
_BOUNDS = {"less_than_equal": ("le", "must be at most {}"), "less_than": ("lt", "must be less than {}"),
           "greater_than_equal": ("ge", "must be at least {}"), "greater_than": ("gt", "must be more than {}")}


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


def plain_message(err: dict[str, Any]) -> str:
    """One pydantic error in words that need no programmer: 'must be at most 100,000,000'."""
    kind = err.get("type", "")
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return words.format(_number((err.get("ctx") or {}).get(key)))
    if kind == "string_too_long":
        return f"must be at most {(err.get('ctx') or {}).get('max_length')} characters"
    return _WORDS.get(kind, str(err.get("msg", "is not valid")).removeprefix("Value error, "))


def invalid_form(exc: ValidationError, input_name: Callable[[tuple], str], message: str = "") -> ValidationFailed:
    """A ValidationFailed whose details name the form's inputs (`input_name` maps a pydantic loc to one)."""
    details = []
    for err in exc.errors(include_url=False):
        name = input_name(tuple(err.get("loc", ())))
        if not any(d["field"] == name for d in details):
            details.append({"field": name, "message": plain_message(err), "type": err.get("type", "value_error")})
    return ValidationFailed(message or "Please correct the fields marked below.", details=details)


def inline_errors(exc: ValidationFailed) -> dict[str, str]:
    """{input name: message} for the template; a message about no field in particular goes under 'form'."""
    out: dict[str, str] = {}
    for detail in exc.details or [{}]:
        out.setdefault(str(detail.get("field") or "form"), str(detail.get("message") or exc.message))
    return out
