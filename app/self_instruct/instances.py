"""Instances of a new task from the model's answer, with the original's drop rules (prepare_for_finetuning.py):
input-first answers ("Example 1 / Input / Output") for generation tasks, output-first ("Class label:") for
classification tasks; the last instance of an answer cut at max_tokens, instances whose input equals their output,
with an empty output, or whose input or output ends with ":" are dropped; a task whose same input has different
outputs loses all of them; exact repeats are dropped; at most `limit` are kept, chosen at random (seeded).
Every dropped instance keeps its reason, for the job page.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

OUTPUT_LABEL = re.compile(r"Output\s*\d*\s*:")
INPUT_LABEL = re.compile(r"Input\s*\d*\s*:")
EXAMPLE = re.compile(r"Example\s?\d*\.?")


@dataclass(frozen=True)
class Instance:
    input: str
    output: str


@dataclass
class Sorted:
    kept: list[Instance]
    dropped: list[tuple[Instance, str]]  # (instance, reason code)


def _input_output(text: str) -> tuple[str, str]:
    """parse_input_output(): the part before "Output:" is the input, after it the output (up to another Input:)."""
    if OUTPUT_LABEL.search(text):
        parts = OUTPUT_LABEL.split(text)
        given, output = parts[0].strip(), parts[1].strip()
    else:
        given, output = "", text.strip()
    if INPUT_LABEL.search(output):
        output = INPUT_LABEL.split(output)[0].strip()
    given = re.sub(r"^Input\s*\d*\s*:", "", given).strip()
    return given, output


def parse_generation(raw: str) -> list[Instance]:
    """parse_instances_for_generation_task(), before the filters."""
    raw = raw.strip()
    if EXAMPLE.search(raw):
        texts = [t.strip() for t in EXAMPLE.split(raw) if t.strip()]
        return [Instance(*_input_output(t)) for t in texts]
    if OUTPUT_LABEL.search(raw):
        return [Instance(*_input_output(raw))]  # one input/output pair without "Example"
    return []


def parse_classification(raw: str) -> list[Instance]:
    """parse_instances_for_classification_task(), before the filters: each "Class label:" starts an instance,
    its first line the label (the output), the rest the input."""
    if "Class label:" not in raw:
        return []
    out = []
    for text in raw.split("Class label:")[1:]:
        fields = text.strip().split("\n", 1)
        label = fields[0].strip()
        given = fields[1].strip() if len(fields) == 2 else ""
        out.append(Instance(given, label))
    return out


def select(found: list[Instance], *, truncated: bool, limit: int, rng: random.Random) -> Sorted:
    """The original's filters in its order: truncation, invalid ones, conflicting outputs, repeats, the cap."""
    result = Sorted([], [])
    if truncated and found:
        result.dropped.append((found[-1], "truncated"))
        found = found[:-1]
    valid = []
    for inst in found:
        reason = _invalid(inst)
        if reason:
            result.dropped.append((inst, reason))
        else:
            valid.append(inst)
    outputs: dict[str, str] = {}
    for inst in valid:
        if inst.input and outputs.setdefault(inst.input, inst.output) != inst.output:
            result.dropped.extend((i, "conflicting_outputs") for i in valid)
            return result
    unique: list[Instance] = []
    for inst in valid:
        if inst in unique:
            result.dropped.append((inst, "duplicate"))
        else:
            unique.append(inst)
    if len(unique) > limit:
        chosen = set(rng.sample(range(len(unique)), limit))
        result.dropped.extend((inst, "over_limit") for i, inst in enumerate(unique) if i not in chosen)
        unique = [inst for i, inst in enumerate(unique) if i in chosen]
    result.kept = unique
    return result


def _invalid(inst: Instance) -> str | None:
    """filter_invalid_instances()."""
    if inst.input == inst.output:
        return "input_equals_output"
    if inst.output == "":
        return "empty_output"
    if inst.input.strip().endswith(":") or inst.output.strip().endswith(":"):
        return "ends_with_colon"
    return None
