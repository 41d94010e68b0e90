"""Reading export snapshots into plain records; every problem names the file and the line (or item)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from worker.training.errors import DataError

ROLES = ("system", "user", "assistant")
# txtinstruct's training prompt (its Instructor's default for causal LMs), the same text as
# app.grounded.prompts.TXTINSTRUCT_PROMPT (a test keeps the two equal; this library imports nothing of app).
TXTINSTRUCT_PROMPT = ("Answer the following question using only the context below. Give a detailed answer. "
                      "Say 'I don't have data on that' when the question can't be answered.\n"
                      "Question: {statement}\nContext: {context}")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system"}


def _rows(path: Path, data_format: str) -> Iterator[tuple[str, Any]]:
    """Yield (where, parsed object): "line N" for JSONL, "item N" for the JSON list of sft-alpaca."""
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    text = path.read_text(encoding="utf-8", errors="strict") if path.stat().st_size else ""
    if not text.strip():
        raise DataError(f"data file {path} is empty")
    if data_format == "sft-alpaca" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from exc
        for index, item in enumerate(items, start=1):
            yield f"item {index}", item
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from exc


def _text(obj: dict, key: str, where: str, allow_empty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise DataError(f"{where}: '{key}' must be a non-empty string")
    return value


def _messages(value: Any, where: str, key: str) -> list[dict[str, str]]:
    """Check a list of {"role", "content"} messages."""
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: '{key}' must be a non-empty list of messages")
    out = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(
                message.get("content"), str):
            raise DataError(f"{where}: {key}[{index}] must be {{\"role\": system|user|assistant, "
                            f"\"content\": string}}")
        out.append({"role": message["role"], "content": message["content"]})
    return out


def _split_last_answer(messages: list[dict[str, str]], where: str) -> tuple[list[dict[str, str]], str]:
    """A conversation ending in an assistant turn: (the turns before it, its text)."""
    if messages[-1]["role"] != "assistant":
        raise DataError(f"{where}: the conversation must end with an assistant message (the trained response)")
    prompt = messages[:-1]
    if not any(m["role"] == "user" for m in prompt):
        raise DataError(f"{where}: the conversation has no user message before the response")
    if not messages[-1]["content"].strip():
        raise DataError(f"{where}: the final assistant message is empty")
    return prompt, messages[-1]["content"]


def _prompt(value: Any, where: str) -> list[dict[str, str]]:
    """A prompt as plain text (one user turn) or as a list of messages."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: 'prompt' must not be empty")
        return [{"role": "user", "content": value}]
    return _messages(value, where, "prompt")


def _answer(value: Any, where: str, key: str) -> str:
    """An answer as plain text or as a list of messages ending in the assistant's."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: '{key}' must not be empty")
        return value
    messages = _messages(value, where, key)
    if messages[-1]["role"] != "assistant":
        raise DataError(f"{where}: '{key}' must end with an assistant message")
    return messages[-1]["content"]


def _record(obj: Any, data_format: str, where: str) -> dict[str, Any]:
    """One parsed row in the declared format to a record with a "prompt" list of messages."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if data_format == "sft-alpaca":
        instruction = _text(obj, "instruction", where)
        extra = obj.get("input", "") or ""
        if not isinstance(extra, str):
            raise DataError(f"{where}: 'input' must be a string")
        content = instruction + (f"\n\n{extra}" if extra.strip() else "")
        return {"prompt": [{"role": "user", "content": content}], "completion": _text(obj, "output", where),
                "instruction": instruction, "input": extra}
    if data_format == "sft-messages":
        prompt, answer = _split_last_answer(_messages(obj.get("messages"), where, "messages"), where)
        return {"prompt": prompt, "completion": answer}
    if data_format == "sharegpt":
        turns = obj.get("conversations")
        if not isinstance(turns, list) or not turns:
            raise DataError(f"{where}: 'conversations' must be a non-empty list")
        messages = []
        for index, turn in enumerate(turns):
            if not isinstance(turn, dict) or turn.get("from") not in SHAREGPT_ROLES or not isinstance(
                    turn.get("value"), str):
                raise DataError(f"{where}: conversations[{index}] must be {{\"from\": human|gpt|system, "
                                f"\"value\": string}}")
            messages.append({"role": SHAREGPT_ROLES[turn["from"]], "content": turn["value"]})
        prompt, answer = _split_last_answer(messages, where)
        return {"prompt": prompt, "completion": answer}
    if data_format == "preference":
        return {"prompt": _prompt(obj.get("prompt"), where), "chosen": _answer(obj.get("chosen"), where, "chosen"),
                "rejected": _answer(obj.get("rejected"), where, "rejected")}
    if data_format == "kto":
        label = obj.get("label")
        if not isinstance(label, bool):
            raise DataError(f"{where}: 'label' must be true or false")
        return {"prompt": _prompt(obj.get("prompt"), where),
                "completion": _answer(obj.get("completion"), where, "completion"), "label": label}
    raise DataError(f"unknown data format {data_format!r}")


def _txtinstruct(obj: Any, where: str) -> list[dict[str, Any]]:
    """One txtinstruct row {"context", "statements": [{"source", "target"}]} to one record per statement, each
    prompted as txtinstruct trains: the statement and the context in its prompt, the target as the answer."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    context = _text(obj, "context", where)
    statements = obj.get("statements")
    if not isinstance(statements, list) or not statements:
        raise DataError(f"{where}: 'statements' must be a non-empty list of {{\"source\", \"target\"}}")
    records = []
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            raise DataError(f"{where}: statements[{index}] must be an object")
        source = _text(statement, "source", f"{where} statements[{index}]")
        target = _text(statement, "target", f"{where} statements[{index}]")
        prompt = TXTINSTRUCT_PROMPT.format(statement=source, context=context)
        records.append({"prompt": [{"role": "user", "content": prompt}], "completion": target})
    return records


def load_records(path: str | Path, data_format: str) -> list[dict[str, Any]]:
    """Parse a whole data file; raises DataError naming the file and line of the first problem."""
    path = Path(path)
    try:
        if data_format == "txtinstruct":
            records = [r for where, obj in _rows(path, data_format) for r in _txtinstruct(obj, f"{path} {where}")]
        else:
            records = [_record(obj, data_format, f"{path} {where}") for where, obj in _rows(path, data_format)]
    except UnicodeDecodeError as exc:
        raise DataError(f"data file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not records:
        raise DataError(f"data file {path} has no records")
    return records
