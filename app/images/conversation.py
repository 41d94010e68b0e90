"""The shape of a conversation about images, checked on every item: LLaVA's <image> placeholder rules.

- An item with images holds one `<image>` placeholder per image in its user turns, and its first user turn
  (the first history turn, or the instruction with its input) holds at least one; with one image that is
  exactly one placeholder, in the first user turn. No system prompt, assistant turn or candidate holds one.
- An item without images holds no placeholder anywhere.
- The turns of an item with images alternate: user, assistant, user, ... (the instruction is the last user turn).
"""

from __future__ import annotations

from typing import Any

PLACEHOLDER = "<image>"


def _human_turns(item: dict[str, Any]) -> list[tuple[str, str]]:
    turns = [(f"history[{i}].content", t["content"]) for i, t in enumerate(item.get("history") or [])
             if t["role"] == "user"]
    turns.append(("instruction", item["instruction"] + "\n\n" + (item.get("input") or "")))
    return turns


def _assistant_texts(item: dict[str, Any]) -> list[tuple[str, str]]:
    texts = [(f"history[{i}].content", t["content"]) for i, t in enumerate(item.get("history") or [])
             if t["role"] == "assistant"]
    texts += [(f"candidates[{i}].text", c["text"]) for i, c in enumerate(item.get("candidates") or [])]
    if item.get("system"):
        texts.append(("system", item["system"]))
    return texts


def alternation_problems(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Earlier turns must go user, assistant, user, ..., ending with the assistant (the instruction comes next)."""
    for i, turn in enumerate(history):
        expected = "user" if i % 2 == 0 else "assistant"
        if turn["role"] != expected:
            return [(f"history[{i}].role", f"turns must alternate user and assistant, starting with the user; "
                                           f"turn {i + 1} is a second {turn['role']} turn in a row"
                     if i else "the conversation must start with a user turn")]
    if history and history[-1]["role"] != "assistant":
        return [(f"history[{len(history) - 1}].role",
                 "the last earlier turn must be the assistant's: the instruction is the next user turn")]
    return []


def placeholder_problems(item: dict[str, Any]) -> list[tuple[str, str]]:
    """[(field, message)] for every broken rule of the module's docstring; empty when the item is fine."""
    images = len(item.get("images") or [])
    problems = [(field, f"an {PLACEHOLDER} placeholder belongs in the first user turn, not in "
                        f"{'the system prompt' if field == 'system' else 'an assistant turn'}")
                for field, text in _assistant_texts(item) if PLACEHOLDER in text]
    humans = _human_turns(item)
    counts = [text.count(PLACEHOLDER) for _, text in humans]
    if images == 0:
        problems += [(field, f"has an {PLACEHOLDER} placeholder but the item has no image: add the image "
                             "or remove the placeholder") for (field, _), n in zip(humans, counts, strict=True) if n]
        return problems
    first_field = humans[0][0]
    if images == 1:
        if counts[0] != 1:
            problems.append((first_field, f"the first user turn must hold exactly one {PLACEHOLDER} placeholder "
                                          f"for the image; it holds {counts[0]}"))
        problems += [(field, f"an {PLACEHOLDER} placeholder belongs in the first user turn only")
                     for (field, _), n in zip(humans[1:], counts[1:], strict=True) if n]
    elif sum(counts) != images or counts[0] == 0:
        problems.append((first_field, f"the user turns must hold one {PLACEHOLDER} placeholder per image "
                                      f"({images}), the first user turn at least one; they hold {sum(counts)}, "
                                      f"the first {counts[0]}"))
    problems += alternation_problems(item.get("history") or [])
    return problems
