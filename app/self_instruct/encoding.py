"""Training text the way the originals wrote it: Self-Instruct's 7 with-input and 6 no-input prompt/completion
templates (prepare_for_finetuning.py's encode_instance), and Alpaca's PROMPT_DICT (train.py).

The original drew a template with `random.choice` as it went; here the draw is a hash of the export's seed and the
instruction's id, so the same seed gives the same file byte for byte whatever order or batch rows come in.
"""

from __future__ import annotations

import hashlib

WITH_INPUT = (
    ("{instruction}\nInput: {input}\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n\nInput: {input}\n\nOutput:", " {output}<|endoftext|>"),
    ("Task: {instruction}\nInput: {input}\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n\n{input}\n\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n\n{input}\n\n", "{output}<|endoftext|>"),
    ("{instruction}\n{input}\n\n", "{output}<|endoftext|>"),
    ("Task: {instruction}\n\n{input}\n\n", "{output}<|endoftext|>"),
)
NO_INPUT = (
    ("{instruction} Output:", " {output}<|endoftext|>"),
    ("{instruction}\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n", "{output}<|endoftext|>"),
    ("{instruction}\n\n", "{output}<|endoftext|>"),
    ("Task: {instruction}\n\n", "{output}<|endoftext|>"),
)
ALPACA_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)


def template_index(seed: int, key: int, choices: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % choices


def self_instruct_row(instruction: str, given: str, output: str, *, seed: int, key: int) -> dict[str, str]:
    """{"prompt", "completion"} through one of the original templates, drawn by (seed, key)."""
    instruction, given, output = instruction.strip(), given.strip(), output.strip()
    if given:
        prompt, completion = WITH_INPUT[template_index(seed, key, len(WITH_INPUT))]
        return {"prompt": prompt.format(instruction=instruction, input=given),
                "completion": completion.format(output=output)}
    prompt, completion = NO_INPUT[template_index(seed, key, len(NO_INPUT))]
    return {"prompt": prompt.format(instruction=instruction), "completion": completion.format(output=output)}


def alpaca_row(instruction: str, given: str, output: str) -> dict[str, str]:
    """Alpaca's training pair: PROMPT_DICT's prompt; the trainer appends its EOS to the completion."""
    template = ALPACA_PROMPT_INPUT if given else ALPACA_PROMPT_NO_INPUT
    return {"prompt": template.format_map({"instruction": instruction, "input": given}), "completion": output}
