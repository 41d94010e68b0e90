"""The whole bootstrap against a scripted teacher: fixed numbered lists with known near-duplicates, blacklisted
words, a truncation and an answer with no list give exactly these accepted instructions and these reasons."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.jobs.runner import run_job
from app.models import Instruction, Job, JobItem, JobStatus
from tests.self_instruct.conftest import EVAL_ONLY, NOT_A_SEED, SEEDS, create
from tests.support.openai_server import completion_reply

LISTS = [
    (" Summarize the main argument of the given op-ed article in three sentences.\n"
     "10. Suggest five creative names for a neighborhood coffee shop that sells books.\n"
     "11. Draw a picture of a cat sitting on a windowsill at sunset.\n"
     "12. Write a program that prints the first ten prime numbers.\n"
     "13. Fix typos.\n"
     "14. \"Explain why the sky appears blue during the day.\"\n"
     "15. Élaborez un plan de cours pour une classe de français.\n"
     "16. Plan a three-day itinerary for a first visit to Lisbon, Portugal.", "stop"),
    (" Summarize the main argument of the given op-ed article in 3 sentences.\n"
     "10. suggest five creative names for a neighborhood coffee shop that sells books.\n"
     "11. Classify the sentiment of the given tweet as positive, negative, or neutral.\n"
     "12. Give me a list of the ten tallest mountains in", "length"),
    ("\n\nI'm sorry, but I can't help with that.", "stop"),
    (" Give three tips for staying healthy and fit.\n"
     "10. Write a short poem about the ocean at night in the style of a haiku.\n"
     "11. Convert the given temperature from Fahrenheit to Celsius and show the steps.", "stop"),
]
ACCEPTED = {
    "Summarize the main argument of the given op-ed article in three sentences.",
    "Suggest five creative names for a neighborhood coffee shop that sells books.",
    "Classify the sentiment of the given tweet as positive, negative, or neutral.",
    "Write a short poem about the ocean at night in the style of a haiku.",
    "Convert the given temperature from Fahrenheit to Celsius and show the steps.",
}
REJECTED = {
    "Draw a picture of a cat sitting on a windowsill at sunset.": "blacklisted",
    "Write a program that prints the first ten prime numbers.": "write_a_program",
    "Fix typos.": "too_short",
    "\"Explain why the sky appears blue during the day.\"": "starts_with_punctuation",
    "Élaborez un plan de cours pour une classe de français.": "non_ascii_start",
    "Plan a three-day itinerary for a first visit to Lisbon, Portugal.": "too_similar",  # the evaluation task
    "Summarize the main argument of the given op-ed article in 3 sentences.": "too_similar",
    "Suggest five creative names for a neighborhood coffee shop that sells books.": "duplicate",
    "Give me a list of the ten tallest mountains in": "truncated",
    "Give three tips for staying healthy and fit.": "too_similar",  # a seed
}


def _task(prompt: str) -> str:
    return prompt.rsplit("Task:", 1)[1].removesuffix("Is it classification?").strip()


def teacher(asked: list[str]):
    def script(path, body, headers):
        prompt = body["prompt"]
        if prompt.startswith("Come up with a series of tasks"):
            asked.append(prompt)
            text, finish = LISTS[len(asked) - 1]
            return completion_reply(text, finish_reason=finish)
        task = _task(prompt)
        if prompt.startswith("Can the following task be regarded"):
            return completion_reply(" Yes" if task.startswith("Classify") else " No")
        if prompt.startswith("Given the classification task definition"):
            return completion_reply("Class label: Positive\nTweet: What a lovely day!\n"
                                    "Class label: Negative\nTweet: My train was late again.")
        if task.startswith("Convert"):  # the same input with two outputs: the task loses every instance
            return completion_reply("Example 1\nTemperature: 50 F\nOutput: 10 C\n"
                                    "Example 2\nTemperature: 50 F\nOutput: 12 C")
        return completion_reply(f"Example 1\nInput: first input of {task[:20]}\nOutput: first output\n"
                                f"Example 2\nInput: second input of {task[:20]}\nOutput: second output")
    return script


def test_bootstrap_accepts_and_rejects_exactly_with_reasons(si_project, scripted):
    si_project["backend"]("teacher", scripted.url, max_concurrency=4)
    asked: list[str] = []
    scripted.script = teacher(asked)
    job_id = create(si_project, {"backend": "teacher", "target_accepted": 5, "prompts_per_batch": 1, "seed": 3})
    run_job(job_id)
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        items = session.scalars(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.id)).all()
        candidates = [i for i in items if i.stage == "candidate"]
        assert {i.input["instruction"] for i in candidates if i.status == "done"} == ACCEPTED
        assert {i.input["instruction"]: i.reason for i in candidates if i.status == "rejected"} == REJECTED
        prompts = [i for i in items if i.stage == "prompt"]
        assert [p.status for p in prompts] == ["done", "done", "rejected", "done"]
        assert prompts[2].reason == "unparsable"
        assert job.reasons == {"blacklisted": 1, "duplicate": 1, "no_instances": 1, "non_ascii_start": 1,
                               "starts_with_punctuation": 1, "too_short": 1, "too_similar": 3, "truncated": 1,
                               "unparsable": 1, "write_a_program": 1}
        similar = {i.input["instruction"]: i.output for i in candidates if i.reason == "too_similar"}
        assert similar["Give three tips for staying healthy and fit."]["similar_to"] == SEEDS[0]
        assert similar["Plan a three-day itinerary for a first visit to Lisbon, Portugal."]["similar_to"] == EVAL_ONLY
        assert job.result["stopped"] == "target_reached" and job.result["accepted"] == 5
        assert job.result["prompts_sent"] == 4 and job.result["candidates_parsed"] == 15
        assert (job.result["tasks_added"], job.result["instructions_added"]) == (4, 8)

        made = session.scalars(select(Instruction).where(Instruction.job_id == job_id)
                               .order_by(Instruction.id)).all()
        by_task: dict[str, list[Instruction]] = {}
        for row in made:
            by_task.setdefault(row.instruction, []).append(row)
        convert = "Convert the given temperature from Fahrenheit to Celsius and show the steps."
        assert set(by_task) == ACCEPTED - {convert}
        for rows in by_task.values():
            assert len(rows) == 2 and rows[1].external_id == rows[0].external_id + "#2"
            for row in rows:
                assert (row.source, row.construction, row.backend, row.model, row.status) == \
                    ("self-instruct", "distilled", "teacher", "teacher-1", "pending")
                assert [(c.origin, c.job_id) for c in row.candidates] == [("reference", job_id)]
                assert len(row.meta["most_similar"]) == 10 and 0 < row.meta["avg_similarity_score"] < 0.5
                assert all(set(m) == {"instruction", "score"} for m in row.meta["most_similar"])
        clf = by_task["Classify the sentiment of the given tweet as positive, negative, or neutral."]
        assert [(r.input, r.candidates[0].text) for r in clf] == [("Tweet: What a lovely day!", "Positive"),
                                                                   ("Tweet: My train was late again.", "Negative")]
        assert all(r.meta["is_classification"] is True for r in clf)
        poem = by_task["Write a short poem about the ocean at night in the style of a haiku."]
        assert poem[0].meta["is_classification"] is False and poem[0].candidates[0].text == "first output"

    # The prompts: the original wording, eight tasks, seeds only from human-written, non-evaluation instructions,
    # and from the second prompt on the two generated tasks of the pool.
    first = asked[0]
    listed = re.findall(r"^\d+\. (.*)$", first, flags=re.M)
    assert first.startswith("Come up with a series of tasks:\n1. ") and first.endswith("\n9.")
    assert len(listed) == 8 and set(listed) <= {s.rstrip(":") for s in SEEDS}
    assert not any(NOT_A_SEED in p or EVAL_ONLY in p for p in asked)
    second = re.findall(r"^\d+\. (.*)$", asked[1], flags=re.M)
    assert {"Summarize the main argument of the given op-ed article in three sentences.",
            "Suggest five creative names for a neighborhood coffee shop that sells books."} <= set(second)
    body = next(b for b in scripted.bodies() if b["prompt"] == first)
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["presence_penalty"]) == (0.7, 0.5, 1024, 2.0)
    assert body["stop"] == ["\n\n", "\n16", "16.", "16 ."] and body["model"] == "teacher-1"


def test_instances_answers_are_capped_by_the_original_lengths_unless_the_job_sets_its_own():
    """generate_instances.py's 300 (classification) and 350 tokens are defaults: a slow local generator, whose
    answers never reach the stop sequence, can be given shorter ones from the job form."""
    from app.self_instruct.asking import instances_request
    from app.self_instruct.schemas import SelfInstructParams

    original = SelfInstructParams(backend="teacher")
    assert [instances_request(original, "Tell a joke.", classification=c).max_tokens for c in (True, False)] == \
        [300, 350]
    short = SelfInstructParams(backend="tuned", instances_max_tokens=32)
    assert [instances_request(short, "Tell a joke.", classification=c).max_tokens for c in (True, False)] == \
        [32, 32]
