"""AlpaGasus's judge: a strong model rates each (instruction, input, response) for accuracy, 1 to 5.

The prompt follows AlpaGasus (Chen et al. 2023): the score alone on the first line, then the explanation. An
answer whose first line holds no score on the scale is a failed item carrying the judge's text (a refusal reads
as such), never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SYSTEM = ("We would like to request your feedback on the performance of the AI assistant in response to the "
          "instruction and the given input displayed following.")
DIMENSIONS = {
    "accuracy": "the accuracy of the response to the instruction and the input",
    "helpfulness": "the helpfulness of the response to the instruction and the input",
}
SCORE = re.compile(r"^\s*(?:\**\s*(?:score|rating)\s*\**\s*[:=]?\s*\**\s*)?([0-9]+(?:\.[0-9]+)?)(?:\s*/\s*5)?\b",
                   re.IGNORECASE)
LOW, HIGH = 1.0, 5.0


def judge_messages(instruction: str, input_text: str, response: str, dimension: str = "accuracy") -> list[dict]:
    what = DIMENSIONS[dimension]
    user = (f"Instruction: {instruction}\n\nInput: {input_text}\n\nResponse: {response}\n\n"
            f"Please rate according to {what}. Each assistant receives a score on a scale of 1 to 5, where a higher "
            "score indicates a higher level of quality. Please first output a single line containing only the value "
            "indicating the score. In the subsequent line, please provide a comprehensive explanation of your "
            "evaluation, avoiding any potential bias.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class Verdict:
    score: float | None
    explanation: str
    error: str | None = None


def parse_verdict(text: str) -> Verdict:
    """The score on the first non-empty line, and the rest as the explanation."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        return Verdict(None, "", "The judge answered nothing.")
    match = SCORE.match(lines[0])
    if match is None:
        return Verdict(None, text.strip(), f"The judge gave no score on its first line: {_short(text)}")
    score = float(match.group(1))
    if not LOW <= score <= HIGH:
        return Verdict(None, text.strip(), f"The judge's score {match.group(1)} is off the 1-5 scale: {_short(text)}")
    return Verdict(score, "\n".join(lines[1:]).strip())


def _short(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "..."
