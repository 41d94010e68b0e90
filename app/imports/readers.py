"""Turn one row of each supported file format into the item dict the ingest API validates.

Every reader answers a list of items (a Self-Instruct task with several instances gives several) and
may raise ValueError with a message naming what is wrong with the row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EOT = "<|endoftext|>"
FORMATS = ("auto", "alpaca", "messages", "sharegpt", "self-instruct", "prompt-completion")


def _need(row: Any, *keys: str) -> dict:
    if not isinstance(row, dict):
        raise ValueError("the row is not a JSON object")
    missing = [k for k in keys if k not in row]
    if missing:
        raise ValueError(f"missing {', '.join(repr(k) for k in missing)}")
    return row


def _ext_id(row: dict) -> str | None:
    value = row.get("external_id", row.get("id"))
    return None if value is None else str(value)


def _rest(row: dict, used: set[str]) -> dict:
    """Columns no field takes go to metadata, so nothing in the file is lost."""
    return {k: v for k, v in row.items() if k not in used}


def detect(row: Any) -> str:
    """The format a row looks like; ValueError if none fits."""
    if isinstance(row, dict):
        if "instances" in row and "instruction" in row:
            return "self-instruct"
        if "response" in row and "instruction" in row:
            return "self-instruct"  # Self-Instruct's model predictions
        if "messages" in row:
            return "messages"
        if "conversations" in row:
            return "sharegpt"
        if "prompt" in row and "completion" in row:
            return "prompt-completion"
        if "instruction" in row:
            return "alpaca"
    raise ValueError("cannot tell the format from this row; pass --format")


def alpaca(row: Any, source: str) -> list[dict]:
    """{"instruction", "input"?, "output"?, "system"?, "history"?}: the output is a reference response."""
    row = _need(row, "instruction")
    item = {"external_id": _ext_id(row), "instruction": row["instruction"], "input": row.get("input") or "",
            "system": row.get("system") or "", "source": source}
    if row.get("history"):  # Alpaca-style [[user, assistant], ...] pairs
        item["history"] = [t for pair in row["history"] for t in
                           ({"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]})]
    if isinstance(row.get("output"), str) and row["output"].strip():
        item["candidates"] = [{"text": row["output"], "origin": "reference"}]
    meta = _rest(row, {"id", "external_id", "instruction", "input", "output", "system", "history"})
    if meta:
        item["metadata"] = meta
    return [item]


def _from_turns(row: dict, turns: list[dict], source: str, used: set[str]) -> list[dict]:
    """System turns -> system; the last user turn -> instruction; the reply after it -> reference."""
    system = "\n\n".join(t["content"] for t in turns if t["role"] == "system")
    chat = [t for t in turns if t["role"] != "system"]
    last_user = max((i for i, t in enumerate(chat) if t["role"] == "user"), default=None)
    if last_user is None:
        raise ValueError("the conversation has no user turn")
    item = {"external_id": _ext_id(row), "instruction": chat[last_user]["content"], "system": system,
            "history": [{"role": t["role"], "content": t["content"]} for t in chat[:last_user]], "source": source}
    reply = chat[last_user + 1] if last_user + 1 < len(chat) else None
    if reply and reply["role"] == "assistant" and reply["content"].strip():
        item["candidates"] = [{"text": reply["content"], "origin": "reference"}]
    meta = _rest(row, used)
    if meta:
        item["metadata"] = meta
    return [item]


def messages(row: Any, source: str) -> list[dict]:
    """{"messages": [{"role": "system"|"user"|"assistant", "content"}, ...]}."""
    row = _need(row, "messages")
    turns = row["messages"]
    if not isinstance(turns, list) or not all(isinstance(t, dict) and "role" in t and "content" in t for t in turns):
        raise ValueError("'messages' must be a list of {role, content} objects")
    bad = {t["role"] for t in turns} - {"system", "user", "assistant"}
    if bad:
        raise ValueError(f"unknown role(s) {sorted(bad)}; use system, user or assistant")
    return _from_turns(row, turns, source, {"id", "external_id", "messages"})


SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "system": "system"}


def sharegpt(row: Any, source: str) -> list[dict]:
    """{"conversations": [{"from": "human"|"gpt"|"system", "value"}, ...]}."""
    row = _need(row, "conversations")
    turns = []
    for n, turn in enumerate(row["conversations"] if isinstance(row["conversations"], list) else [None]):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise ValueError(f"conversations[{n}] must be a {{from, value}} object")
        role = SHAREGPT_ROLES.get(str(turn["from"]).lower())
        if role is None:
            raise ValueError(f"conversations[{n}]: unknown speaker {turn['from']!r}")
        turns.append({"role": role, "content": turn["value"]})
    return _from_turns(row, turns, source, {"id", "external_id", "conversations"})


def self_instruct(row: Any, source: str) -> list[dict]:
    """A Self-Instruct task: one instruction per instance (its input), the instance output a reference."""
    row = _need(row, "id", "instruction", "instances")
    if not isinstance(row["instances"], list) or not row["instances"]:
        raise ValueError("'instances' must be a non-empty list")
    meta = _rest(row, {"id", "instruction", "instances"})
    items = []
    for n, inst in enumerate(row["instances"], start=1):
        if not isinstance(inst, dict):
            raise ValueError(f"instances[{n - 1}] is not an object")
        # The first instance keeps the task's id, so a task growing more instances keeps its identity.
        item = {"external_id": str(row["id"]) if n == 1 else f"{row['id']}#{n}", "instruction": row["instruction"],
                "input": inst.get("input") or "", "source": source}
        if isinstance(inst.get("output"), str) and inst["output"].strip():
            item["candidates"] = [{"text": inst["output"], "origin": "reference"}]
        if meta:
            item["metadata"] = meta
        items.append(item)
    return items


def prompt_completion(row: Any, source: str) -> list[dict]:
    """{"prompt", "completion", "template"?}: the completion (minus <|endoftext|>) is a reference."""
    row = _need(row, "prompt", "completion")
    item = {"external_id": _ext_id(row), "instruction": row["prompt"],
            "source": str(row.get("template") or source)}
    completion = row["completion"]
    if isinstance(completion, str):
        completion = completion.removesuffix(EOT).rstrip()
        if completion.strip():  # an empty reference teaches nothing
            item["candidates"] = [{"text": completion, "origin": "reference"}]
    meta = _rest(row, {"id", "external_id", "prompt", "completion", "template"})
    if meta:
        item["metadata"] = meta
    return [item]


READERS: dict[str, Callable[[Any, str], list[dict]]] = {
    "alpaca": alpaca, "messages": messages, "sharegpt": sharegpt, "self-instruct": self_instruct,
    "prompt-completion": prompt_completion,
}


def is_prediction(row: Any) -> bool:
    """A Self-Instruct prediction row: one model's response to a task, joined to an existing instruction."""
    return isinstance(row, dict) and "response" in row and "instances" not in row
