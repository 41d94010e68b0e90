"""The conversation a model answers for an instruction: system, earlier turns, then the instruction and input."""

from __future__ import annotations

from typing import Any

from app.models import Instruction


def user_turn(instruction: str, input_text: str = "") -> str:
    return instruction + (f"\n\n{input_text}" if input_text else "")


def prompt_messages(instruction: Instruction) -> list[dict[str, Any]]:
    messages = [{"role": "system", "content": instruction.system}] if instruction.system else []
    messages += [{"role": t["role"], "content": t["content"]} for t in instruction.history or []]
    return [*messages, {"role": "user", "content": user_turn(instruction.instruction, instruction.input)}]
