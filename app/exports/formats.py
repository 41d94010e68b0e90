"""Row builders: one approved instruction in, the rows of one trainer format out (plain dicts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from app.self_instruct.encoding import alpaca_row, self_instruct_row

# Formats whose rows need the candidates' texts (the others use only the final response).
NEEDS_CANDIDATES = frozenset({"preference", "kto", "ranking"})
# The column the preview and dedupe key treat as "the response".
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


@dataclass(slots=True)
class Record:
    """One approval joined to its instruction: what every builder reads."""

    approval_id: int
    instruction_id: int
    instruction: str
    input: str
    system: str
    history: list[dict[str, str]]
    split: str
    final_response: str
    final_candidate_id: int | None
    ranking: list[list[int]]
    all_bad: bool
    rejected_ids: list[int]


def user_text(rec: Record) -> str:
    """The user's turn: the instruction, then its input after a blank line when there is one."""
    return f"{rec.instruction}\n\n{rec.input}" if rec.input else rec.instruction


def prompt_messages(rec: Record) -> list[dict[str, str]]:
    """System (if any), earlier turns, then the user's turn, in chat-message form."""
    messages = [{"role": "system", "content": rec.system}] if rec.system else []
    messages.extend({"role": turn["role"], "content": turn["content"]} for turn in rec.history)
    messages.append({"role": "user", "content": user_text(rec)})
    return messages


def prompt_plain(rec: Record) -> str:
    """The prompt as one string: system and earlier turns first, blank-line separated, so nothing is lost."""
    if not rec.system and not rec.history:
        return user_text(rec)
    parts = [rec.system] if rec.system else []
    parts.extend(turn["content"] for turn in rec.history)
    parts.append(user_text(rec))
    return "\n\n".join(parts)


def sft_alpaca(rec: Record, _cands: dict[int, str], _style: str) -> list[dict[str, Any]]:
    return [{"instruction": rec.instruction, "input": rec.input, "output": rec.final_response}]


def sft_messages(rec: Record, _cands: dict[int, str], _style: str) -> list[dict[str, Any]]:
    messages = prompt_messages(rec)
    messages.append({"role": "assistant", "content": rec.final_response})
    return [{"messages": messages}]


def sharegpt(rec: Record, _cands: dict[int, str], _style: str) -> list[dict[str, Any]]:
    turns = [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in prompt_messages(rec)]
    turns.append({"from": "gpt", "value": rec.final_response})
    return [{"conversations": turns}]


FINAL = -1  # stands for the final response in a ranking when it is a correction (no candidate id)


def ordered_tiers(rec: Record) -> list[list[int]]:
    """The consensus tiers, best first; a corrected final response is a tier of its own above them all."""
    tiers = [sorted(int(c) for c in tier) for tier in rec.ranking if tier]
    if rec.final_candidate_id is None and rec.final_response:
        tiers.insert(0, [FINAL])
    return tiers


def preference_pairs(rec: Record, cands: dict[int, str]) -> list[tuple[str, str]]:
    """(chosen, rejected) texts for every pair across tiers, better tier first; ties and all-bad give none."""
    if rec.all_bad:
        return []
    # cands holds the whole batch's candidates: look up in it, never copy it (that made each row O(batch)).
    final = rec.final_response
    tiers = [[final if c == FINAL else cands[c] for c in tier if c == FINAL or c in cands]
             for tier in ordered_tiers(rec)]
    pairs = []
    for i, better in enumerate(tiers):
        for worse in tiers[i + 1:]:
            for chosen in better:
                pairs.extend((chosen, rejected) for rejected in worse if rejected != chosen)
    return pairs


def preference(rec: Record, cands: dict[int, str], style: str) -> list[dict[str, Any]]:
    pairs = preference_pairs(rec, cands)
    if not pairs:
        return []
    if style == "conversational":
        prompt = prompt_messages(rec)
        return [{"prompt": prompt, "chosen": [{"role": "assistant", "content": c}],
                 "rejected": [{"role": "assistant", "content": r}]} for c, r in pairs]
    prompt = prompt_plain(rec)
    return [{"prompt": prompt, "chosen": c, "rejected": r} for c, r in pairs]


def ranking(rec: Record, cands: dict[int, str], style: str) -> list[dict[str, Any]]:
    """One ranked list per instruction: every response best first, with its tier (1 = best; a tie shares one).
    Listwise trainers (RRHF, PRO) read this; all-bad instructions and lists of one response give none."""
    if rec.all_bad:
        return []
    responses: list[str] = []
    ranks: list[int] = []
    for place, tier in enumerate(ordered_tiers(rec), start=1):
        for c in tier:
            if c == FINAL or c in cands:
                responses.append(rec.final_response if c == FINAL else cands[c])
                ranks.append(place)
    if len(responses) < 2:
        return []
    prompt: Any = prompt_messages(rec) if style == "conversational" else prompt_plain(rec)
    return [{"prompt": prompt, "responses": responses, "ranks": ranks}]


def kto(rec: Record, cands: dict[int, str], style: str) -> list[dict[str, Any]]:
    completions: list[tuple[str, bool]] = []
    rejected = [int(c) for c in rec.rejected_ids]
    if rec.final_response and rec.final_candidate_id not in rejected:
        completions.append((rec.final_response, True))
    completions.extend((cands[c], False) for c in sorted(set(rejected)) if c in cands)
    if style == "conversational":
        prompt: Any = prompt_messages(rec)
        return [{"prompt": prompt, "completion": [{"role": "assistant", "content": text}], "label": label}
                for text, label in completions]
    prompt = prompt_plain(rec)
    return [{"prompt": prompt, "completion": text, "label": label} for text, label in completions]


def prompt_completion(rec: Record, _cands: dict[int, str], _style: str, seed: int = 0) -> list[dict[str, Any]]:
    """Self-Instruct's fine-tuning rows: one of its original templates, drawn by the export's seed."""
    return [self_instruct_row(rec.instruction, rec.input, rec.final_response, seed=seed, key=rec.instruction_id)]


def alpaca_prompt(rec: Record, _cands: dict[int, str], _style: str) -> list[dict[str, Any]]:
    """Alpaca's PROMPT_DICT prompt and the response as the completion."""
    return [alpaca_row(rec.instruction, rec.input, rec.final_response)]


def txtinstruct(rec: Record, _cands: dict[int, str], _style: str) -> list[dict[str, Any]]:
    """txtinstruct's training row: the context (the passage) and its statements. One row per approved item:
    txtinstruct's trainer reads every statement of every row alike, so rows need not be grouped by passage.
    Items without an input have no context and are not grounded: they give no row."""
    if not rec.input.strip():
        return []
    return [{"context": rec.input, "statements": [{"source": rec.instruction, "target": rec.final_response}]}]


Builder = Callable[[Record, dict[int, str], str], list[dict[str, Any]]]
BUILDERS: dict[str, Builder] = {
    "sft-alpaca": sft_alpaca,
    "sft-messages": sft_messages,
    "sharegpt": sharegpt,
    "preference": preference,
    "kto": kto,
    "ranking": ranking,
    "prompt-completion": prompt_completion,
    "alpaca-prompt": alpaca_prompt,
    "txtinstruct": txtinstruct,
}


def builder(fmt: str, options: dict[str, Any]) -> Builder:
    """The row builder for a format with the export's options bound (the template draw's seed)."""
    if fmt == "prompt-completion":
        return partial(prompt_completion, seed=int(options.get("seed") or 0))
    return BUILDERS[fmt]


def shorten(value: Any, limit: int = 400) -> Any:
    """A copy of a row with long texts cut, for previews."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, list):
        return [shorten(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: shorten(v, limit) for k, v in value.items()}
    return value
