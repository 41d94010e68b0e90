"""Records to TRL dataset rows: the tokenizer's chat template when it has one, else the Alpaca template.

A run's `template` decides: "auto" (the chat template when the tokenizer has one, else the Alpaca layout below),
"chat", or "alpaca": Stanford Alpaca's own PROMPT_DICT, byte for byte, whatever the tokenizer brings; the response
follows "### Response:" directly and the trainer appends EOS, as Alpaca's train.py did."""

from __future__ import annotations

from typing import Any

ALPACA_WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further "
                     "context. Write a response that appropriately completes the request.\n\n"
                     "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n")
ALPACA_NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately completes "
                   "the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n")


# tatsu-lab/stanford_alpaca train.py, PROMPT_DICT.
PROMPT_DICT = {
    "prompt_input": ("Below is an instruction that describes a task, paired with an input that provides further "
                     "context. Write a response that appropriately completes the request.\n\n"
                     "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"),
    "prompt_no_input": ("Below is an instruction that describes a task. Write a response that appropriately "
                        "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:"),
}
TEMPLATES = ("auto", "chat", "alpaca")


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer brings its own chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def uses_chat(tokenizer: Any, template: str = "auto") -> bool:
    """Whether prompts are rendered with the tokenizer's chat template under this run's `template`."""
    if template == "alpaca":
        return False
    return template == "chat" or has_chat_template(tokenizer)


def _instruction_and_input(record: dict[str, Any]) -> tuple[str, str]:
    if "instruction" in record:
        return record["instruction"], record.get("input", "")
    messages = record["prompt"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    context = messages[:last_user] + messages[last_user + 1:]
    return messages[last_user]["content"], "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in context)


def original_alpaca_prompt(record: dict[str, Any]) -> str:
    """Alpaca's PROMPT_DICT prompt; an sft-alpaca record keeps its input, a chat record's other turns become it."""
    instruction, extra = _instruction_and_input(record)
    key = "prompt_input" if extra.strip() else "prompt_no_input"
    return PROMPT_DICT[key].format_map({"instruction": instruction, "input": extra})


def plain_prompt(record: dict[str, Any], template: str = "auto") -> str:
    return original_alpaca_prompt(record) if template == "alpaca" else alpaca_prompt(record)


def alpaca_prompt(record: dict[str, Any]) -> str:
    """The Alpaca prompt: the last user turn is the instruction, earlier turns become the input."""
    if "instruction" in record:
        instruction, extra = record["instruction"], record.get("input", "")
    else:
        messages = record["prompt"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        instruction = messages[last_user]["content"]
        context = messages[:last_user] + messages[last_user + 1:]
        extra = "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in context)
    template = ALPACA_WITH_INPUT if extra.strip() else ALPACA_NO_INPUT
    return template.format(instruction=instruction, input=extra)


def _answer(text: str, chat: bool) -> Any:
    return [{"role": "assistant", "content": text}] if chat else text


def to_row(record: dict[str, Any], method: str, chat: bool, template: str = "auto") -> dict[str, Any]:
    """One TRL row: prompt-completion for SFT (so the loss covers the response only), prompt-chosen-rejected
    for DPO, prompt-completion-label for KTO; conversational when the tokenizer has a chat template."""
    prompt = record["prompt"] if chat else plain_prompt(record, template)
    if method in ("dpo", "reward"):
        return {"prompt": prompt, "chosen": _answer(record["chosen"], chat),
                "rejected": _answer(record["rejected"], chat)}
    row = {"prompt": prompt, "completion": _answer(record["completion"], chat)}
    if method == "kto":
        row["label"] = record["label"]
    return row


def to_dataset(records: list[dict[str, Any]], method: str, tokenizer: Any, template: str = "auto"):
    """A datasets.Dataset of TRL rows for the method."""
    from datasets import Dataset

    chat = uses_chat(tokenizer, template)
    return Dataset.from_list([to_row(r, method, chat, template) for r in records])


def prompt_text(record: dict[str, Any], tokenizer: Any, template: str = "auto") -> str:
    """The prompt as the model sees it at inference, ending where the answer starts."""
    if uses_chat(tokenizer, template):
        return tokenizer.apply_chat_template(record["prompt"], tokenize=False, add_generation_prompt=True)
    return plain_prompt(record, template)


def answer_of(record: dict[str, Any]) -> str:
    """The trained answer: the completion, or the chosen answer of a preference pair."""
    return record["chosen"] if "chosen" in record else record["completion"]


def tokenize_with_mask(record: dict[str, Any], tokenizer: Any, template: str = "auto") -> tuple[list[int], int]:
    """Token ids of prompt plus answer, and how many leading (prompt) tokens are masked out of the loss.

    Mirrors TRL's prompt-completion preparation: the answer starts where the tokenized prompt and the
    tokenized prompt+answer diverge."""
    from trl.data_utils import common_prefix_length

    answer = answer_of(record)
    if uses_chat(tokenizer, template):
        prompt_ids = tokenizer.apply_chat_template(record["prompt"], tokenize=True, return_dict=True,
                                                   add_generation_prompt=True)["input_ids"]
        full_ids = tokenizer.apply_chat_template(record["prompt"] + [{"role": "assistant", "content": answer}],
                                                 tokenize=True, return_dict=True)["input_ids"]
    else:
        prompt = plain_prompt(record, template)
        eos = tokenizer.eos_token or ""
        prompt_ids = tokenizer(text=prompt)["input_ids"]
        full_ids = tokenizer(text=prompt + answer + ("" if answer.endswith(eos) else eos))["input_ids"]
    return list(full_ids), common_prefix_length(list(prompt_ids), list(full_ids))


def full_texts(records: list[dict[str, Any]], tokenizer: Any, template: str = "auto") -> list[str]:
    """Each record rendered whole (prompt and longest answer), for token length statistics."""
    chat = uses_chat(tokenizer, template)
    texts = []
    for record in records:
        answers = [record["chosen"], record["rejected"]] if "chosen" in record else [record["completion"]]
        answer = max(answers, key=len)
        if chat:
            texts.append(tokenizer.apply_chat_template(
                record["prompt"] + [{"role": "assistant", "content": answer}], tokenize=False))
        else:
            texts.append(plain_prompt(record, template) + answer + (tokenizer.eos_token or ""))
    return texts
