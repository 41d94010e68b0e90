"""Turn one row of each supported file format into the item dict the ingest API validates.

Every reader answers a list of items (a Self-Instruct task with several instances gives several) and
may raise ValueError with a message naming the field and what is wrong with it. A text field must be a
string (an optional one may be absent or null); a value is never taken for text by calling str() on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

EOT = "<|endoftext|>"
FORMATS = ("auto", "alpaca", "messages", "sharegpt", "self-instruct", "prompt-completion", "comparison", "answers")


def kind(value: Any) -> str:
    """A JSON value's type, in a user's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def short(value: Any, limit: int = 60) -> str:
    """repr(value) cut to about `limit` characters: a message quotes a value, never a megabyte of it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _text(row: dict, key: str, where: str | None = None, *, required: bool = False) -> str:
    """row[key] as text: absent or null is "" for an optional field; any other non-string is an error."""
    name = where or repr(key)
    value = row.get(key)
    if value is None and not required:
        return ""
    if key not in row:
        raise ValueError(f"{name} is missing")
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {kind(value)}")
    return value


def _id(value: Any, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{key!r} must be a string or a number, not {kind(value)}")
    return str(value)


def _need(row: Any, *keys: str) -> dict:
    if not isinstance(row, dict):
        raise ValueError("the row is not a JSON object")
    missing = [k for k in keys if k not in row]
    if missing:
        raise ValueError(f"missing {', '.join(repr(k) for k in missing)}")
    return row


def _ext_id(row: dict) -> str | None:
    key = "external_id" if "external_id" in row else "id"
    value = row.get(key)
    return None if value is None else _id(value, key)


def _rest(row: dict, used: set[str]) -> dict:
    """Columns no field takes go to metadata, so nothing in the file is lost."""
    return {k: v for k, v in row.items() if k not in used}


def detect(row: Any) -> str:
    """The format a row looks like; ValueError if none fits."""
    if isinstance(row, dict):
        if "user_input" in row and "responses_and_scores" in row:
            return "comparison"
        if "instruction" in row and "output" in row and "generator" in row:
            return "answers"  # AlpacaEval-style model outputs: {"instruction", "output", "generator"}
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
    item = {"external_id": _ext_id(row), "instruction": _text(row, "instruction", required=True),
            "input": _text(row, "input"), "system": _text(row, "system"), "source": source}
    history = _history(row.get("history"))
    if history:
        item["history"] = history
    output = _text(row, "output")
    if output.strip():
        item["candidates"] = [{"text": output, "origin": "reference"}]
    meta = _rest(row, {"id", "external_id", "instruction", "input", "output", "system", "history"})
    if meta:
        item["metadata"] = meta
    return [item]


def _history(pairs: Any) -> list[dict]:
    """Alpaca-style [[user, assistant], ...] pairs as turns; absent or null is no history."""
    if pairs is None:
        return []
    if not isinstance(pairs, list):
        raise ValueError(f"'history' must be a list of [user, assistant] pairs, not {kind(pairs)}")
    turns = []
    for n, pair in enumerate(pairs):
        if not isinstance(pair, list) or len(pair) != 2:
            got = f"{len(pair)} items" if isinstance(pair, list) else kind(pair)
            raise ValueError(f"history[{n}] must be a [user, assistant] pair, not {got}")
        for i, (role, content) in enumerate(zip(("user", "assistant"), pair, strict=True)):
            if not isinstance(content, str):
                raise ValueError(f"history[{n}][{i}] must be a string, not {kind(content)}")
            turns.append({"role": role, "content": content})
    return turns


def _turns(row: dict, key: str, speaker: str, text: str, roles: dict[str, str], lower: bool = False) -> list[dict]:
    """row[key], a list of {speaker, text} objects, as {role, content} turns; every error names the turn."""
    turns = row[key]
    shape = f"{{{speaker}, {text}}}"
    if not isinstance(turns, list):
        raise ValueError(f"{key!r} must be a list of {shape} objects, not {kind(turns)}")
    out = []
    for n, turn in enumerate(turns):
        where = f"{key}[{n}]"
        if not isinstance(turn, dict):
            raise ValueError(f"{where} must be a {shape} object, not {kind(turn)}")
        who = _text(turn, speaker, f"{where}.{speaker}", required=True)
        role = roles.get(who.lower() if lower else who)
        if role is None:
            label = "speaker" if speaker == "from" else "role"
            raise ValueError(f"{where}.{speaker}: unknown {label} {short(who)}; use {', '.join(sorted(set(roles)))}")
        out.append({"role": role, "content": _text(turn, text, f"{where}.{text}", required=True)})
    return out


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
    turns = _turns(row, "messages", "role", "content", {r: r for r in ("system", "user", "assistant")})
    return _from_turns(row, turns, source, {"id", "external_id", "messages"})


SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "system": "system"}


def sharegpt(row: Any, source: str) -> list[dict]:
    """{"conversations": [{"from": "human"|"gpt"|"system", "value"}, ...]}."""
    row = _need(row, "conversations")
    turns = _turns(row, "conversations", "from", "value", SHAREGPT_ROLES, lower=True)
    return _from_turns(row, turns, source, {"id", "external_id", "conversations"})


def self_instruct(row: Any, source: str) -> list[dict]:
    """A Self-Instruct task: one instruction per instance (its input), the instance output a reference; the task's
    other fields (`name`, `is_classification`, `motivation_app`) in every instruction's metadata."""
    row = _need(row, "id", "instruction", "instances")
    task_id, instruction = _id(row["id"], "id"), _text(row, "instruction", required=True)
    if not isinstance(row["instances"], list) or not row["instances"]:
        got = "an empty one" if isinstance(row["instances"], list) else kind(row["instances"])
        raise ValueError(f"'instances' must be a non-empty list, not {got}")
    _task_fields(row)
    meta = _rest(row, {"id", "instruction", "instances"})
    items = []
    for n, inst in enumerate(row["instances"], start=1):
        if not isinstance(inst, dict):
            raise ValueError(f"instances[{n - 1}] must be an object, not {kind(inst)}")
        output = _text(inst, "output", f"instances[{n - 1}].output")
        # The first instance keeps the task's id, so a task growing more instances keeps its identity.
        item = {"external_id": task_id if n == 1 else f"{task_id}#{n}", "instruction": instruction,
                "input": _text(inst, "input", f"instances[{n - 1}].input"), "source": source}
        if output.strip():
            item["candidates"] = [{"text": output, "origin": "reference"}]
        if meta:
            item["metadata"] = meta
        items.append(item)
    return items


def _task_fields(row: dict) -> None:
    """A seed task's `name` and `is_classification` (kept in metadata, where the self-instruct job reads them)
    must have their types: a flag given as "yes" would silently make a task a generation task."""
    if row.get("name") is not None and not isinstance(row["name"], str):
        raise ValueError(f"'name' must be a string, not {kind(row['name'])}")
    flag = row.get("is_classification")
    if flag is not None and not isinstance(flag, bool):
        raise ValueError(f"'is_classification' must be true or false, not {kind(flag)} {short(flag)}")


def prompt_completion(row: Any, source: str) -> list[dict]:
    """{"prompt", "completion", "template"?}: the completion (minus <|endoftext|>) is a reference."""
    row = _need(row, "prompt", "completion")
    item = {"external_id": _ext_id(row), "instruction": _text(row, "prompt", required=True),
            "source": _text(row, "template") or source}
    completion = _text(row, "completion", required=True).removesuffix(EOT).rstrip()
    if completion.strip():  # an empty reference teaches nothing
        item["candidates"] = [{"text": completion, "origin": "reference"}]
    meta = _rest(row, {"id", "external_id", "prompt", "completion", "template"})
    if meta:
        item["metadata"] = meta
    return [item]


def comparison_id(prompt: str) -> str:
    """The external id of a comparison prompt: one instruction per `user_input`, whichever file brings it."""
    return "comparison:" + hashlib.sha256(prompt.encode()).hexdigest()[:32]


def comparison(row: Any, source: str) -> list[dict]:
    """GPT-4-LLM's comparison data: {"user_input", "responses_and_scores": [{"response", "score", "source"}]}.
    One instruction per user input; each response a candidate of the model named by `source`, with its score."""
    row = _need(row, "user_input", "responses_and_scores")
    prompt = _text(row, "user_input", required=True)
    entries = row["responses_and_scores"]
    if not isinstance(entries, list) or not entries:
        got = "an empty list" if isinstance(entries, list) else kind(entries)
        raise ValueError(f"'responses_and_scores' must be a non-empty list, not {got}")
    candidates = []
    for n, entry in enumerate(entries):
        where = f"responses_and_scores[{n}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a {{response, score, source}} object, not {kind(entry)}")
        text = _text(entry, "response", f"{where}.response", required=True)
        score = entry.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise ValueError(f"{where}.score must be a number, not {kind(score)}")
        candidates.append({"text": text, "model": _text(entry, "source", f"{where}.source"),
                           "score": float(score), "origin": "imported"})
    item: dict[str, Any] = {"external_id": comparison_id(prompt), "instruction": prompt, "source": source,
                            "candidates": candidates}
    meta = _rest(row, {"user_input", "responses_and_scores"})
    if meta:
        item["metadata"] = meta
    return [item]


def answer_row(row: Any) -> Any:
    """An Alpaca-format answer of one model ({"instruction", "input"?, "output", "generator"?, "score"?}) in the
    shape of a Self-Instruct prediction, so it joins the instruction with the same instruction and input."""
    if not isinstance(row, dict):
        return row  # the join's check names the problem
    if "output" not in row:
        raise ValueError("missing 'output' (the model's answer)")
    if not isinstance(row["output"], str):
        raise ValueError(f"'output' must be a string, not {kind(row['output'])}")
    out = {k: v for k, v in row.items() if k != "output"}
    out["response"] = row["output"]
    return out


READERS: dict[str, Callable[[Any, str], list[dict]]] = {
    "alpaca": alpaca, "messages": messages, "sharegpt": sharegpt, "self-instruct": self_instruct,
    "prompt-completion": prompt_completion, "comparison": comparison,
}


def is_prediction(row: Any) -> bool:
    """A Self-Instruct prediction row: one model's response to a task, joined to an existing instruction."""
    return isinstance(row, dict) and "response" in row and "instances" not in row
