"""Multiple-choice benchmarks scored by log-likelihood, as lm-evaluation-harness does for such tasks.

A task is JSON Lines, one question a line: {"id"?, "question", "choices": [text, ...], "answer": index or the
right choice's text}. Each choice is scored by the log-probability the model gives it after the question
(`/v1/completions` with echo and logprobs, max_tokens 0: the server scores the prompt and generates nothing).
The highest wins (accuracy); `acc_norm` divides by the choice's length in bytes first, which removes the edge
short choices have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class BadItem(ValueError):
    """A task item that cannot be scored; the message names the field."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    choices: list[str]
    answer: int

    def context(self) -> str:
        return f"Question: {self.question.strip()}\nAnswer:"

    def continuation(self, index: int) -> str:
        return " " + self.choices[index].strip()


def parse_item(row: Any, position: int) -> Question:
    """One task line as a Question; BadItem says what is wrong with it."""
    if not isinstance(row, dict):
        raise BadItem("the line is not a JSON object")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise BadItem("'question' must be a non-empty string")
    choices = row.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        raise BadItem("'choices' must be a list of at least two strings")
    for i, choice in enumerate(choices):
        if not isinstance(choice, str) or not choice.strip():
            raise BadItem(f"choices[{i}] must be a non-empty string")
    if len({c.strip() for c in choices}) != len(choices):
        raise BadItem("'choices' has the same text twice")
    answer = row.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int | str):
        raise BadItem("'answer' must be the right choice's index or its text")
    if isinstance(answer, str):
        if answer.strip() not in [c.strip() for c in choices]:
            raise BadItem(f"'answer' {answer[:60]!r} is none of the choices")
        answer = [c.strip() for c in choices].index(answer.strip())
    if not 0 <= answer < len(choices):
        raise BadItem(f"'answer' {answer} is not an index of 'choices' (0-{len(choices) - 1})")
    ident = row.get("id", position)
    return Question(id=str(ident), question=question, choices=[str(c) for c in choices], answer=answer)


def continuation_logprob(logprobs: dict[str, Any] | None, context_chars: int) -> float:
    """Sum of the logprobs of the echoed tokens that start at or after the context's end.

    Legacy completions logprobs: {"tokens", "token_logprobs", "text_offset"}; the first token has no logprob
    (None), which is fine, as it belongs to the context."""
    if not logprobs or not isinstance(logprobs.get("token_logprobs"), list) or \
            not isinstance(logprobs.get("text_offset"), list):
        raise BadItem("the backend returned no token logprobs with offsets; it must support echo with logprobs "
                      "on /v1/completions")
    total, counted = 0.0, 0
    for value, offset in zip(logprobs["token_logprobs"], logprobs["text_offset"], strict=False):
        if offset is not None and offset >= context_chars:
            if value is None:
                raise BadItem("the backend left a continuation token without a logprob")
            total += float(value)
            counted += 1
    if counted == 0:
        raise BadItem("no echoed token lies in the answer choice: the backend did not echo the prompt")
    return total


def score_choices(logprobs: list[float], continuations: list[str], answer: int) -> dict[str, Any]:
    """Whether the highest-scoring choice is the right one, raw and normalised by byte length."""
    best = max(range(len(logprobs)), key=lambda i: logprobs[i])
    norm = [lp / max(1, len(text.encode())) for lp, text in zip(logprobs, continuations, strict=True)]
    best_norm = max(range(len(norm)), key=lambda i: norm[i])
    return {"correct": best == answer, "correct_norm": best_norm == answer, "chosen": best,
            "logprobs": [round(v, 6) for v in logprobs]}


def score_question(question: Question, logprobs: list[float]) -> dict[str, Any]:
    return score_choices(logprobs, [question.continuation(i) for i in range(len(question.choices))], question.answer)
