"""txtinstruct's prompts and the small parsers around them (pure functions, testable without a model).

The question prompt and the answer prompt are txtinstruct's (NeuML): a statement generator writes a question
from the context, and the teacher answers "using only the context below", saying the refusal when it cannot.
"""

from __future__ import annotations

import random
import re
import unicodedata

DEFAULT_REFUSAL = "I don't have data on that"
QUESTION_PROMPT = ("Generate a question using the context below. Reply with the question only.\n"
                   "### Context:\n{context}")
INVENTED_PROMPT = ("Write one question about a specific detail that the context below does not mention, but that a "
                   "reader might plausibly expect it to (a date, a number, a name, a place). The question must not "
                   "be answerable from the context. Reply with the question only.\n### Context:\n{context}")
ANSWER_PROMPT = ("Answer the following question using only the context below. Give a detailed answer. "
                 "Say '{refusal}' when the question can't be answered.\nQuestion: {question}\nContext: {context}")
# What the tuned model is told, as the system turn of every grounded item (and so of chat exports and the
# evaluation): the same rule the teacher followed, with the project's refusal.
STUDENT_SYSTEM = ("Answer the question using only the context given with it. Say '{refusal}' when the context "
                  "does not answer it.")
# txtinstruct's training prompt (Instructor.defaultprompt for causal LMs): how a txtinstruct export is trained.
TXTINSTRUCT_PROMPT = ("Answer the following question using only the context below. Give a detailed answer. "
                      "Say 'I don't have data on that' when the question can't be answered.\n"
                      "Question: {statement}\nContext: {context}")
TITLE_TEMPLATES = ("Tell me about {title}", "Describe {title}")

_PREFIX = re.compile(r"^\s*(?:[-*•]\s*|\d+[.)]\s*|#+\s*)?(?:\*\*)?(?:question|q)\s*\d*\s*[:.)-]\s*(?:\*\*)?\s*", re.I)
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_QUOTES = "\"'`“”‘’«»"


def question_messages(context: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": QUESTION_PROMPT.format(context=context)}]


def invented_messages(context: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": INVENTED_PROMPT.format(context=context)}]


def answer_messages(question: str, context: str, refusal: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": ANSWER_PROMPT.format(question=question, context=context, refusal=refusal)}]


def student_system(refusal: str) -> str:
    return STUDENT_SYSTEM.format(refusal=refusal)


def txtinstruct_prompt(statement: str, context: str) -> str:
    return TXTINSTRUCT_PROMPT.format(statement=statement, context=context)


def parse_question(text: str) -> tuple[str | None, str | None]:
    """(the question, None) or (None, reason code): `empty`, or `not_a_question` when the backend answered,
    explained or refused instead of asking (no line of its reply is a question)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None, "empty"
    for line in lines:
        line = _LIST_MARK.sub("", _PREFIX.sub("", line)).strip().strip(_QUOTES).strip()
        if "?" in line:
            question = line[:line.index("?") + 1].strip().strip(_QUOTES).strip()
            if len(question) > 3:
                return question, None
    return None, "not_a_question"


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("‘", "'")
    return " ".join(re.sub(r"[^\w' ]+", " ", text).split())


def is_refusal(answer: str, refusal: str) -> bool:
    """The answer says the refusal (near its start, in any case or punctuation: "I'm sorry. I don't have data
    on that." counts; an answer that only mentions it late does not)."""
    said, rule = _normal(answer), _normal(refusal)
    if not rule:
        return False
    place = said.find(rule)
    return place != -1 and place <= 40


def title_statement(title: str, seed: int) -> str:
    """One of txtinstruct's title templates, picked by a seeded draw (the same passage gets the same one)."""
    return random.Random(seed).choice(TITLE_TEMPLATES).format(title=title)
