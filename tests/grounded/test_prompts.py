"""The pure parts: the question parser's reason codes, the refusal check, txtinstruct's prompts."""

from __future__ import annotations

import pytest

from app.grounded.prompts import answer_messages, is_refusal, parse_question, title_statement


@pytest.mark.parametrize(("reply", "question"), [
    ("What year was the wall built?", "What year was the wall built?"),
    ("Question: What year was the wall built?\nAnswer: 1820", "What year was the wall built?"),
    ("**Question 1:** \"Who kept the lamp?\"", "Who kept the lamp?"),
    ("Here is a question:\n1. Why did gas replace whale oil? It was cheaper.", "Why did gas replace whale oil?"),
])
def test_parse_question_finds_the_question(reply, question):
    assert parse_question(reply) == (question, None)


@pytest.mark.parametrize(("reply", "reason"), [
    ("", "empty"), ("  \n ", "empty"),
    ("The wall was built in 1820.", "not_a_question"),  # an answer, not a question
    ("I cannot generate a question for this context.", "not_a_question"),
    ("?", "not_a_question"),
])
def test_parse_question_reason_codes(reply, reason):
    assert parse_question(reply) == (None, reason)


@pytest.mark.parametrize(("answer", "refused"), [
    ("I don't have data on that", True),
    ("I don’t have data on that.", True),
    ("Sorry — I DON'T HAVE DATA ON THAT!", True),
    ("The wall is granite, built in 1820 by the harbour board. On its keepers I don't have data on that.",
     False),  # said late, after an answer: an answer
    ("The wall was built in 1820.", False),
    ("I don't have data", False),
])
def test_is_refusal(answer, refused):
    assert is_refusal(answer, "I don't have data on that") is refused


def test_prompts_are_txtinstructs():
    (message,) = answer_messages("Who?", "Some context.", "No idea.")
    assert message["content"] == ("Answer the following question using only the context below. Give a detailed "
                                  "answer. Say 'No idea.' when the question can't be answered.\nQuestion: Who?\n"
                                  "Context: Some context.")
    assert title_statement("Owls", 1) in ("Tell me about Owls", "Describe Owls")
    assert title_statement("Owls", 1) == title_statement("Owls", 1)
