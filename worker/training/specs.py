"""Strict loading of JSON specs into dataclasses: unknown fields, wrong types and bad values name the field."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from worker.training.errors import ConfigError

T = TypeVar("T")


def field(default: Any = dataclasses.MISSING, help: str = "", choices: tuple | None = None,
          check: typing.Callable[[Any], bool] | None = None, rule: str = "", factory: Any = None) -> Any:
    """A dataclass field with help text, optional choices and a value check described by `rule`."""
    metadata = {"help": help, "choices": choices, "check": check, "rule": rule}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a type hint (bool is not an int here; an int is a fine float)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is typing.Any:
        return True
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    """A readable name for a type hint, for error messages."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is list:
        return f"a list of {_describe(typing.get_args(hint)[0])}"
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in typing.get_args(hint))
    return {type(None): "null", bool: "true/false", int: "an integer", float: "a number",
            str: "a string"}.get(hint, getattr(hint, "__name__", str(hint)))


def load(cls: type[T], data: Any, where: str = "") -> T:
    """Build dataclass cls from a JSON object, checking every field; raises ConfigError naming the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'the spec'} must be a JSON object, not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown field '{name}'; allowed fields: {', '.join(sorted(known))}")
    values = {}
    for name, spec in known.items():
        path = f"{where}.{name}" if where else name
        hint = hints[name]
        if name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required field '{path}': {spec.metadata.get('help', '')}")
            continue
        value = data[name]
        if dataclasses.is_dataclass(hint):
            values[name] = load(hint, value, path)
            continue
        if not _type_ok(value, hint):
            raise ConfigError(f"field '{path}' must be {_describe(hint)}, got {json.dumps(value)}")
        choices = spec.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"field '{path}' must be one of {', '.join(map(json.dumps, choices))}, "
                              f"got {json.dumps(value)}")
        check = spec.metadata.get("check")
        if check is not None and value is not None and not check(value):
            raise ConfigError(f"field '{path}' {spec.metadata.get('rule') or 'is invalid'}, got {json.dumps(value)}")
        if isinstance(hint, type) and hint is float and isinstance(value, int):
            value = float(value)
        values[name] = value
    return cls(**values)


def read_json(path: str | Path, cls: type[T]) -> T:
    """Read a spec file and load it into cls."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"spec file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"spec file {path} is not valid JSON: {exc}") from exc
    return load(cls, data)


def help_text(cls: type) -> str:
    """Every field of cls with its default and help, for --help output."""
    lines = []
    for spec in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[spec.name]
        if dataclasses.is_dataclass(hint):
            lines.append(f"{spec.name}: {spec.metadata.get('help', '')}")
            lines.extend("  " + line for line in help_text(hint).splitlines())
            continue
        default = "required" if spec.default is dataclasses.MISSING else json.dumps(spec.default)
        choices = spec.metadata.get("choices")
        kind = f"one of {', '.join(map(json.dumps, choices))}" if choices else _describe(hint)
        lines.append(f"{spec.name} ({kind}, default {default}): {spec.metadata.get('help', '')}")
    return "\n".join(lines)
