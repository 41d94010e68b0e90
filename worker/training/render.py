"""Records to TRL dataset rows: the tokenizer's chat template when it has one, else the Alpaca template."""

from __future__ import annotations

from typing import Any

ALPACA_WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further "
                     "context. Write a response that appropriately completes the request.\n\n"
                     "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n")
ALPACA_NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately completes "
                   "the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n")


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer brings its own chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


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


def to_row(record: dict[str, Any], method: str, chat: bool) -> dict[str, Any]:
    """One TRL row: prompt-completion for SFT (so the loss covers the response only), prompt-chosen-rejected
    for DPO, prompt-completion-label for KTO; conversational when the tokenizer has a chat template."""
    prompt = record["prompt"] if chat else alpaca_prompt(record)
    if method in ("dpo", "reward"):
        return {"prompt": prompt, "chosen": _answer(record["chosen"], chat),
                "rejected": _answer(record["rejected"], chat)}
    row = {"prompt": prompt, "completion": _answer(record["completion"], chat)}
    if method == "kto":
        row["label"] = record["label"]
    return row


def to_dataset(records: list[dict[str, Any]], method: str, tokenizer: Any):
    """A datasets.Dataset of TRL rows for the method."""
    from datasets import Dataset

    chat = has_chat_template(tokenizer)
    return Dataset.from_list([to_row(r, method, chat) for r in records])


def prompt_text(record: dict[str, Any], tokenizer: Any) -> str:
    """The prompt as the model sees it at inference, ending where the answer starts."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(record["prompt"], tokenize=False, add_generation_prompt=True)
    return alpaca_prompt(record)


def answer_of(record: dict[str, Any]) -> str:
    """The trained answer: the completion, or the chosen answer of a preference pair."""
    return record["chosen"] if "chosen" in record else record["completion"]


def tokenize_with_mask(record: dict[str, Any], tokenizer: Any) -> tuple[list[int], int]:
    """Token ids of prompt plus answer, and how many leading (prompt) tokens are masked out of the loss.

    Mirrors TRL's prompt-completion preparation: the answer starts where the tokenized prompt and the
    tokenized prompt+answer diverge."""
    from trl.data_utils import common_prefix_length

    answer = answer_of(record)
    if has_chat_template(tokenizer):
        prompt_ids = tokenizer.apply_chat_template(record["prompt"], tokenize=True, return_dict=True,
                                                   add_generation_prompt=True)["input_ids"]
        full_ids = tokenizer.apply_chat_template(record["prompt"] + [{"role": "assistant", "content": answer}],
                                                 tokenize=True, return_dict=True)["input_ids"]
    else:
        prompt = alpaca_prompt(record)
        eos = tokenizer.eos_token or ""
        prompt_ids = tokenizer(text=prompt)["input_ids"]
        full_ids = tokenizer(text=prompt + answer + ("" if answer.endswith(eos) else eos))["input_ids"]
    return list(full_ids), common_prefix_length(list(prompt_ids), list(full_ids))


def full_texts(records: list[dict[str, Any]], tokenizer: Any) -> list[str]:
    """Each record rendered whole (prompt and longest answer), for token length statistics."""
    chat = has_chat_template(tokenizer)
    texts = []
    for record in records:
        answers = [record["chosen"], record["rejected"]] if "chosen" in record else [record["completion"]]
        answer = max(answers, key=len)
        if chat:
            texts.append(tokenizer.apply_chat_template(
                record["prompt"] + [{"role": "assistant", "content": answer}], tokenize=False))
        else:
            texts.append(alpaca_prompt(record) + answer + (tokenizer.eos_token or ""))
    return texts
