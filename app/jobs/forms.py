"""A kind's parameter form, drawn from its Params schema, and the posted form turned back into parameters.

One form for every kind: a new kind gets a working form (with its descriptions, bounds and defaults) without a
template of its own. Nested models (an instruction filter) become fieldsets; lists of choices become checkboxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

JSON_TYPES = {"integer", "number", "boolean", "string", "array", "object"}


@dataclass
class FormField:
    name: str  # dotted path: "n", "filter.status"
    label: str
    widget: str  # number | checkbox | select | checkboxes | text | json | backend | fieldset
    help: str = ""
    required: bool = False
    default: Any = None
    choices: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"
    children: list[FormField] = field(default_factory=list)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    return schema


def _unwrap(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of Optional[...] with the property's own title, description and default kept."""
    options = [_resolve(o, defs) for o in prop.get("anyOf", []) if o.get("type") != "null"]
    base = options[0] if len(options) == 1 else _resolve(prop, defs)
    return {**base, **{k: v for k, v in prop.items() if k in ("title", "description", "default")}}


def form_fields(model: type[BaseModel]) -> list[FormField]:
    schema = model.model_json_schema()
    return _fields(schema, schema.get("$defs", {}), prefix="", defaults=_defaults(model))


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Each field's default, factories called (the schema leaves those out), nested models as dicts."""
    out = {}
    for name, info in model.model_fields.items():
        if info.is_required():
            continue
        value = info.get_default(call_default_factory=True)
        out[name] = value.model_dump(mode="json", exclude_none=True) if isinstance(value, BaseModel) else value
    return out


def _fields(schema: dict[str, Any], defs: dict[str, Any], prefix: str,
            defaults: dict[str, Any] | None = None) -> list[FormField]:
    required = set(schema.get("required", []))
    defaults = defaults or {}
    out = []
    for name, raw in schema.get("properties", {}).items():
        prop = _unwrap(raw, defs)
        path = f"{prefix}{name}"
        label = raw.get("title") or (prop.get("title") if "$ref" not in raw and "anyOf" not in raw else None)
        spec = FormField(name=path, label=label or name.replace("_", " ").capitalize(),
                         widget="text", help=prop.get("description", ""), required=name in required,
                         default=defaults.get(name, prop.get("default")),
                         minimum=prop.get("minimum", prop.get("exclusiveMinimum")),
                         maximum=prop.get("maximum", prop.get("exclusiveMaximum")))
        kind = prop.get("type")
        if "properties" in prop:
            nested = spec.default if isinstance(spec.default, dict) else {}
            spec.widget, spec.children = "fieldset", _fields(prop, defs, prefix=f"{path}.", defaults=nested)
        elif name == "backend" or name.endswith("_backend"):
            spec.widget = "backend"
        elif "enum" in prop:
            spec.widget, spec.choices = "select", [str(c) for c in prop["enum"]]
        elif kind == "array" and "enum" in _resolve(prop.get("items", {}), defs):
            spec.widget, spec.choices = "checkboxes", [str(c) for c in _resolve(prop["items"], defs)["enum"]]
        elif kind == "boolean":
            spec.widget = "checkbox"
        elif kind in ("integer", "number"):
            spec.widget, spec.step = "number", "1" if kind == "integer" else "any"
        elif kind == "array" and _resolve(prop.get("items", {}), defs).get("type") in ("string", "integer"):
            spec.widget = "list"
        elif kind in ("object", "array") or kind not in JSON_TYPES:
            spec.widget = "json"
        out.append(spec)
    return out


def parse_form(fields: list[FormField], form: dict[str, Any], multi: dict[str, list[str]]) -> dict[str, Any]:
    """Posted values → parameters; a field left empty takes its default (so it is simply left out)."""
    import json

    params: dict[str, Any] = {}
    for spec in fields:
        key = spec.name.rsplit(".", 1)[-1]
        if spec.widget == "fieldset":
            # Always sent: a fieldset left empty means "no narrowing", not "the default".
            params[key] = parse_form(spec.children, form, multi)
            continue
        raw = form.get(spec.name)
        if spec.widget == "checkbox":
            params[key] = raw == "on"
        elif spec.widget == "checkboxes":
            if multi.get(spec.name):
                params[key] = multi[spec.name]
        elif raw is None or str(raw).strip() == "":
            continue
        elif spec.widget == "list":
            params[key] = [part.strip() for part in str(raw).split(",") if part.strip()]
        elif spec.widget == "json":
            try:
                params[key] = json.loads(raw)
            except ValueError:
                params[key] = raw  # the schema then says what it expected
        else:
            params[key] = str(raw).strip()
    return params


def form_values(fields: list[FormField], params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Parameters → the flat values the form shows (for a form drawn again with its errors, or pre-filled)."""
    import json

    values: dict[str, Any] = {}
    for spec in fields:
        key = spec.name.rsplit(".", 1)[-1]
        value = params.get(key, spec.default) if isinstance(params, dict) else None
        if spec.widget == "fieldset":
            values.update(form_values(spec.children, value if isinstance(value, dict) else {}))
        elif value is None:
            continue
        elif spec.widget == "list" and isinstance(value, list):
            values[spec.name] = ", ".join(str(v) for v in value)
        elif spec.widget == "json" and not isinstance(value, str):
            values[spec.name] = json.dumps(value)
        elif spec.widget == "checkbox":
            values[spec.name] = "on" if value in (True, "on") else ""
        else:
            values[spec.name] = value
    return values
