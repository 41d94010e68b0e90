"""The prompts of Self-Instruct (Wang et al. 2022) and Stanford Alpaca, in their original wording.

The long few-shot templates live in originals/ as the projects published them (both Apache-2.0:
yizhongw/self-instruct's self_instruct/templates/*.py and tatsu-lab/stanford_alpaca's prompt.txt), byte for
byte; this module only assembles them the way the original scripts did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ORIGINALS = Path(__file__).parent / "originals"

SELF_INSTRUCT_HEAD = "Come up with a series of tasks:\n"
CLASSIFICATION_HEAD = ("Come up with a series of classification tasks. "
                       "Try to specify the possible output labels when possible.\n")
# bootstrap_instructions.py asked davinci with these stop sequences: the list ends before item 16.
SELF_INSTRUCT_STOP_AT = 16
ALPACA_STOP_AT = 20
NO_INPUT = "<noinput>"


@cache
def original(name: str) -> str:
    return (ORIGINALS / name).read_text(encoding="utf-8")


def _one_line(text: str) -> str:
    """As the originals clean an instruction for a prompt: whitespace runs to one space, no trailing colon."""
    return re.sub(r"\s+", " ", text).strip().rstrip(":")


def self_instruct_prompt(instructions: list[str], *, classification: bool = False) -> str:
    """encode_prompt() of bootstrap_instructions.py: the head, the numbered instructions, and the next number."""
    prompt = CLASSIFICATION_HEAD if classification else SELF_INSTRUCT_HEAD
    for index, instruction in enumerate(instructions):
        prompt += f"{index + 1}. {_one_line(instruction)}\n"
    return prompt + f"{len(instructions) + 1}."


def self_instruct_stop(stop_at: int) -> list[str]:
    """The original stop sequences, for a list that ends before item `stop_at` (16 in the original)."""
    return ["\n\n", f"\n{stop_at}", f"{stop_at}.", f"{stop_at} ."]


@dataclass(frozen=True)
class Example:
    """A seed or machine task as Alpaca's prompt shows it: instruction, input (may be empty) and output."""

    instruction: str
    input: str = ""
    output: str = ""


def alpaca_head(list_length: int = ALPACA_STOP_AT) -> str:
    """prompt.txt, with its "20" replaced when a list of another length is asked for."""
    text = original("alpaca_prompt.txt")
    if list_length != ALPACA_STOP_AT:
        text = text.replace("a set of 20 diverse", f"a set of {list_length} diverse").replace(
            "List of 20 tasks:", f"List of {list_length} tasks:")
    return text


def alpaca_prompt(examples: list[Example], *, list_length: int = ALPACA_STOP_AT) -> str:
    """encode_prompt() of generate_instruction.py: prompt.txt, then ###-separated numbered examples."""
    prompt = alpaca_head(list_length) + "\n"
    for index, example in enumerate(examples):
        number = index + 1
        given = NO_INPUT if example.input.lower() == "" else example.input
        prompt += "###\n"
        prompt += f"{number}. Instruction: {_one_line(example.instruction)}\n"
        prompt += f"{number}. Input:\n{given}\n"
        prompt += f"{number}. Output:\n{example.output}\n"
    prompt += "###\n"
    return prompt + f"{len(examples) + 1}. Instruction:"


def alpaca_stop(list_length: int = ALPACA_STOP_AT) -> list[str]:
    # The original lists "20." twice; a request needs each stop sequence once.
    return [f"\n{list_length}", f"{list_length}."]


def is_classification_prompt(instruction: str) -> str:
    """identify_clf_or_not.py: the few-shot Yes/No template, the task, and the question."""
    return original("is_classification.txt") + " " + instruction.strip() + "\n" + "Is it classification?"


IS_CLASSIFICATION_STOP = ["\n", "Task"]


def instances_prompt(instruction: str, *, classification: bool) -> str:
    """generate_instances.py: output-first for classification tasks, input-first for the others."""
    name = "instances_classification.txt" if classification else "instances_generation.txt"
    return original(name) + " " + instruction.strip() + "\n"


def instances_stop(max_instances: int) -> list[str]:
    return [f"Example {max_instances + 1}", "Task:"]


def instances_max_tokens(classification: bool) -> int:
    # "because the clf template is longer, we need to decrease the max_tokens"
    return 300 if classification else 350
