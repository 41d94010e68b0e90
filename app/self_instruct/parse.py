"""A model's answer to a bootstrap prompt, as candidate instructions.

The original split davinci's continuation of "9." on `\\n\\d+\\s?\\. `; real models (chat ones above all)
also answer with a preamble, restart the numbering at 1, write "Task 9:" or "**9.**", use bullets, or add a
closing remark after a blank line. Numbered lines win, then bullets; a text that continues the prompt's last
number counts as that item; anything else is not a list at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.self_instruct.prompts import NO_INPUT

# "9.", "9)", "9:", "Task 9:", "#9.", "**9.**" (the closing ** only after an opening one: "9. **Title**" keeps its own).
NUMBERED = re.compile(r"^\s*(?:[-*•]\s+)?(\*\*|__)?(?:(?:task|instruction)\s*)?#?(\d{1,4})\s*(?:\.|\)|:|\s-)"
                      r"\s*(?(1)(?:\*\*|__)?)\s*(?=\S)", re.IGNORECASE)
BULLET = re.compile(r"^\s*[-*•+]\s+(?=\S)")
BOLD_LEAD = re.compile(r"^(?:\*\*|__)(.+?)(?:\*\*|__)")


@dataclass
class Parsed:
    """One candidate as found: its text (whitespace collapsed), and whether the answer was cut off inside it."""

    text: str
    truncated: bool = False
    input: str = ""
    output: str = ""
    shape_ok: bool = True  # False: an Alpaca item without its Instruction/Input/Output parts


def clean(text: str) -> str:
    """Whitespace runs to one space; the first letter upper-cased.

    The original's str.capitalize() also lower-cased the rest of the text, which mangles names ("Translate
    into French" -> "Translate into french"); the filters that follow ignore case, so decisions are the same."""
    text = re.sub(r"\s+", " ", text).strip()
    text = BOLD_LEAD.sub(r"\1", text)  # "**Sentiment**: classify ..." as chat models write it
    return text[:1].upper() + text[1:]


def _items(lines: list[str], marker: re.Pattern[str], lead: list[str] | None) -> list[str]:
    """Items start at lines the marker matches; an item runs on over following lines up to a blank line.
    `lead`: lines before the first marker that form an item of their own (a continued prompt)."""
    items: list[list[str]] = [lead] if lead else []
    current: list[str] | None = None
    for line in lines:
        match = marker.match(line)
        if match:
            current = [line[match.end():]]
            items.append(current)
        elif not line.strip():
            current = None  # a blank line ends the item: what follows is commentary unless numbered
        elif current is not None:
            current.append(line)
    return [" ".join(parts) for parts in items]


def _lead(lines: list[str], marker: re.Pattern[str]) -> list[str]:
    """The lines before the first marker and before any blank line: the rest of the prompt's last item."""
    lead = []
    for line in lines:
        if marker.match(line) or not line.strip():
            break
        lead.append(line)
    return lead


def instructions(text: str, *, continues: bool, truncated: bool = False) -> list[Parsed]:
    """Candidate instructions in an answer. `continues`: the answer goes on from the prompt's "9." (completions),
    so text before any number is item 9; `truncated`: the answer stopped at max_tokens, so its last item is cut."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if any(NUMBERED.match(line) for line in lines):
        found = _items(lines, NUMBERED, _lead(lines, NUMBERED) if continues else None)
    elif any(BULLET.match(line) for line in lines):
        found = _items(lines, BULLET, _lead(lines, BULLET) if continues else None)
    elif continues:
        found = [" ".join(_lead(lines, NUMBERED))]
    else:
        found = []
    parsed = [Parsed(clean(item)) for item in found]
    parsed = [p for p in parsed if p.text]
    if truncated and parsed:
        parsed[-1].truncated = True
    return parsed


ALPACA_FIELDS = re.compile(r"\d+\.\s+(Instruction|Input|Output):")
ALPACA_START = re.compile(r"^\s*\d+\.\s+Instruction:")


def alpaca_tasks(text: str, *, next_number: int, truncated: bool = False) -> list[Parsed]:
    """post_process_gpt3_response() of generate_instruction.py: "###"-separated items of numbered Instruction,
    Input and Output parts. Any item number is accepted (the original required consecutive numbers, so one
    skipped number lost the rest of the list); an item without all three parts is kept as not well-formed."""
    body = text if ALPACA_START.match(text) else f"{next_number}. Instruction:" + text
    chunks = re.split("###", body)
    parsed = []
    for index, chunk in enumerate(chunks):
        if not chunk.strip():
            continue
        parts = ALPACA_FIELDS.split(chunk)
        cut = truncated and index == len(chunks) - 1
        if len(parts) != 7 or [parts[1], parts[3], parts[5]] != ["Instruction", "Input", "Output"]:
            parsed.append(Parsed(clean(chunk)[:2000], truncated=cut, shape_ok=False))
            continue
        given = parts[4].strip()
        parsed.append(Parsed(clean(parts[2]), truncated=cut, input="" if given.lower() == NO_INPUT else given,
                             output=parts[6].strip()))
    return parsed


def is_yes(answer: str) -> bool:
    """identify_clf_or_not.py counted "Yes", "yes" and "YES"; a chat model's "Yes." or "yes, it is" count too."""
    words = answer.strip().split()
    return bool(words) and words[0].strip(".,!:;\"'*").lower() == "yes"
