"""Parse and validate a whole ingest batch (JSON or NDJSON bytes) before anything is written.

The fast path is one pydantic-core `validate_json` over the raw bytes. Only when that fails, or when a
cheap scan of the bytes shows an escaped control character, do slower passes run to say exactly which
item, field and line is at fault.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import ValidationError

from app.core.config import get_settings
from app.core.errors import ValidationFailed
from app.instructions.schemas import adapters

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/ndjson")
# Raw control bytes are invalid JSON already; escaped ones (\u0001, and the short \b and \f) and raw
# DEL (0x7f) are not. An escape counts only after an even run of backslashes ("\\b" is a backslash and a b).
_SUSPECT = re.compile(rb"(?<!\\)(?:\\\\)*\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bf])|\x7f")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BAD_UTF8 = "\ufdd0\ufdd1"  # Unicode noncharacters: marks where undecodable bytes were, to find the item
_MESSAGES = {
    "string_pattern_mismatch": "must not be empty or only whitespace",
    "string_too_short": "must not be empty",
    "extra_forbidden": "unknown field",
    "missing": "required",
    "dict_type": "must be a JSON object",
    "string_type": "must be a string",
    "list_type": "must be a JSON array",
}


def is_ndjson(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() in NDJSON_TYPES


def _suspect(raw: bytes) -> bool:
    """Could the batch hold a control character? Two memchr-speed scans first, the regex only if they hit."""
    return (b"\\u00" in raw or b"\\b" in raw or b"\\f" in raw or b"\x7f" in raw) and _SUSPECT.search(raw) is not None


def friendly(err: dict[str, Any]) -> str:
    """A pydantic error's message in this API's words."""
    if err["type"] == "string_too_long":
        return f"longer than {err['ctx']['max_length']} characters"
    return _MESSAGES.get(err["type"], err["msg"])


def _field(index: int | None, rest: tuple[Any, ...]) -> str:
    out = "items" if index is None else f"items[{index}]"
    for part in rest:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _detail(index: int | None, rest: tuple, message: str, kind: str, line: int | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"index": index, "field": _field(index, rest), "message": message, "type": kind}
    if line is not None:
        detail["line"] = line
    return detail


def _from_pydantic(exc: ValidationError, *, offset: int = 0, lines: list[int] | None = None,
                   prefixed: bool = False) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if prefixed:  # the {"items": [...]} body: drop "items"
            if not loc or loc[0] != "items":
                details.append({"index": None, "field": ".".join(map(str, loc)) or "body",
                                "message": _MESSAGES.get(err["type"], err["msg"]), "type": err["type"]})
                continue
            loc = loc[1:]
        if loc and isinstance(loc[0], int):
            index, rest = loc[0] + offset, loc[1:]
        else:
            index, rest = (offset if lines else None), loc
        message = friendly(err)
        details.append(_detail(index, rest, message, err["type"], lines[index] if lines and index is not None
                               else None))
    return details


def _strings(node: Any, path: tuple) -> Any:
    """Yield (path, string) for every string in an item, dict keys included."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), key
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*path, i))


def control_char_details(items: list[dict[str, Any]], lines: list[int] | None = None) -> list[dict[str, Any]]:
    """Every string with a control character other than tab, newline and carriage return (NUL included)."""
    details = []
    for index, item in enumerate(items):
        for path, text in _strings(item, ()):
            found = _CONTROL.search(text)
            if found:
                details.append(_detail(index, path, f"contains the control character U+{ord(found.group()):04X}"
                                       f" at position {found.start()}", "control_character",
                                       lines[index] if lines else None))
    return details


def _utf8_problem(raw: bytes) -> UnicodeDecodeError | None:
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        return exc


def _line_col(raw: bytes, pos: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, pos) + 1
    return line, pos - (raw.rfind(b"\n", 0, pos) + 1) + 1


def _bad_utf8_details(raw: bytes, exc: UnicodeDecodeError) -> list[dict[str, Any]]:
    """Which items hold undecodable bytes: decode with a marker, parse, then look for the marker."""
    line, col = _line_col(raw, exc.start)
    text = raw.decode("utf-8", errors="replace").replace("\ufffd", _BAD_UTF8)
    where = f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}, column {col})"
    try:
        body = orjson.loads(text)
        items = body["items"] if isinstance(body, dict) else None
    except (orjson.JSONDecodeError, KeyError):
        items = None
    details = []
    if isinstance(items, list):
        for index, item in enumerate(items):
            for path, value in _strings(item, ()):
                if _BAD_UTF8 in value:
                    details.append(_detail(index, path, "invalid UTF-8", "utf8_invalid"))
    return details or [{"index": None, "field": "body", "message": where, "type": "utf8_invalid", "line": line}]


def _check_batch(items: list[dict[str, Any]], raw: bytes, lines: list[int] | None) -> list[dict[str, Any]]:
    """Batch-level rules: size, duplicate external ids, control characters (when the bytes hint at one)."""
    settings = get_settings()
    if not items:
        raise ValidationFailed("The batch has no items.", details=[_detail(None, (), "no items", "empty")])
    if len(items) > settings.max_batch_items:
        raise ValidationFailed(
            f"The batch has {len(items)} items; send at most {settings.max_batch_items} a request.",
            details=[_detail(None, (), f"at most {settings.max_batch_items} items", "too_long")])
    details = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        ext = item.get("external_id")
        if ext is not None:
            if ext in seen:
                details.append(_detail(index, ("external_id",), f"duplicates the external_id of items[{seen[ext]}]",
                                       "duplicate", lines[index] if lines else None))
            else:
                seen[ext] = index
    if _suspect(raw):
        details.extend(control_char_details(items, lines))
    return details


def _control_in_raw(raw: bytes, lines: list[int] | None) -> list[dict[str, Any]]:
    """Control characters in a batch that failed validation anyway, so one answer lists every problem."""
    if not _suspect(raw):
        return []
    body = orjson.loads(raw)
    items = body.get("items") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return []
    return control_char_details([it if isinstance(it, dict) else {} for it in items], lines)


def _fail(details: list[dict[str, Any]]) -> None:
    shown = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
    bad = len({d["index"] for d in details if d.get("index") is not None})
    head = f"{bad} item(s) are not valid; nothing was written. " if bad else "The batch is not valid. "
    raise ValidationFailed(head + shown + more, details=details)


def parse_json_body(raw: bytes, limits: dict) -> list[dict[str, Any]]:
    try:
        items = limits["body"].validate_json(raw)["items"]
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            problem = _utf8_problem(raw)
            if problem:
                _fail(_bad_utf8_details(raw, problem))
            msg = exc.errors()[0]["msg"].removeprefix("Invalid JSON: ")
            _fail([{"index": None, "field": "body", "message": f"invalid JSON: {msg}", "type": "json_invalid"}])
        _fail(_from_pydantic(exc, prefixed=True) + _control_in_raw(raw, None))
    return items


def parse_ndjson_body(raw: bytes, limits: dict) -> tuple[list[dict[str, Any]], list[int]]:
    numbered = [(n, line) for n, line in enumerate(raw.split(b"\n"), start=1) if line.strip()]
    lines = [n for n, _ in numbered]
    try:
        # One pass over all lines as one JSON array; per-line passes only to explain a failure.
        return limits["items"].validate_json(b"[" + b",".join(line for _, line in numbered) + b"]"), lines
    except ValidationError as exc:
        if not any(e["type"] == "json_invalid" for e in exc.errors()):
            _fail(_from_pydantic(exc, lines=lines) + _control_in_raw(b"[" + b",".join(x for _, x in numbered) + b"]",
                                                                      lines))
    details = []
    for index, (n, line) in enumerate(numbered):
        try:
            limits["item"].validate_json(line)
        except ValidationError as exc:
            errors = exc.errors()
            if errors[0]["type"] == "json_invalid":
                problem = _utf8_problem(line)
                msg = (f"invalid UTF-8 (byte 0x{line[problem.start]:02x} at column {problem.start + 1})"
                       if problem else "invalid JSON: " + errors[0]["msg"].removeprefix("Invalid JSON: "))
                details.append(_detail(index, (), msg, "utf8_invalid" if problem else "json_invalid", n))
            else:
                details.extend(_from_pydantic(exc, offset=index, lines=lines))
    _fail(details)
    raise AssertionError("unreachable")


def parse_batch(raw: bytes, content_type: str | None) -> list[dict[str, Any]]:
    """Validated item dicts from a request body, or ValidationFailed naming every bad item."""
    settings = get_settings()
    limits = adapters(settings.max_text_chars, settings.max_candidates)
    if is_ndjson(content_type):
        items, lines = parse_ndjson_body(raw, limits)
    else:
        items, lines = parse_json_body(raw, limits), None
    details = _check_batch(items, raw, lines)
    if details:
        _fail(details)
    return items
