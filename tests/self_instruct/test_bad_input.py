"""A job with no seeds, an answer that is no list, thousands of duplicates, and Alpaca's variant end to end."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.core.errors import ValidationFailed
from app.jobs.runner import run_job
from app.jobs.service import parse_params
from app.models import Backend, Instruction, Job, JobItem, JobStatus, Project
from tests.self_instruct.conftest import create
from tests.support.openai_server import chat_reply, completion_reply


def test_a_job_without_seeds_is_refused_with_the_parameter_named(client, db, admin_headers):
    db.add(Project(name="Empty", slug="empty"))
    db.flush()
    project = db.scalar(select(Project).where(Project.slug == "empty"))
    db.add(Instruction(project_id=project.id, instruction="Only an evaluation task here.", content_hash="e",
                       evaluation_only=True))
    db.add(Backend(name="teacher", kind="openai", base_url="http://127.0.0.1:9/v1", model="t"))
    db.flush()
    resp = client.post("/api/v1/projects/empty/jobs", json={"kind": "self-instruct", "params": {"backend": "teacher"}},
                       headers=admin_headers)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert "No seed instruction to bootstrap from" in error["message"]
    assert error["details"][0]["field"] == "params.seeds"
    assert db.scalar(select(Job.id)) is None
    with pytest.raises(ValidationFailed, match="machine_instructions cannot exceed prompt_instructions"):
        parse_params("self-instruct", {"backend": "teacher", "prompt_instructions": 3, "machine_instructions": 4})
    with pytest.raises(ValidationFailed, match="list_length must be above prompt_instructions"):
        parse_params("self-instruct", {"backend": "teacher", "mode": "alpaca", "list_length": 3})


def test_answers_with_no_list_exhaust_the_pool_and_the_job_says_so(si_project, scripted):
    si_project["backend"]("chatty", scripted.url)
    scripted.script = lambda path, body, headers: chat_reply("What a lovely set of tasks! I like them all.")
    job_id = create(si_project, {"backend": "chatty", "endpoint": "chat", "window": 10, "min_acceptance_rate": 0.1,
                                 "prompts_per_batch": 4})
    run_job(job_id)
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        assert job.result["stopped"] == "pool_exhausted"
        assert "fell to 0.0%" in job.result["message"] and job.result["prompts_sent"] == 12
        assert job.reasons == {"unparsable": 12} and job.items_total == 12
        item = session.scalars(select(JobItem).where(JobItem.job_id == job_id)).first()
        assert item.output["text"] == "What a lovely set of tasks! I like them all."
    body = scripted.bodies()[0]
    assert body["messages"][0]["content"].startswith("Come up with a series of tasks:") and "\n\n" not in body["stop"]


def test_thousands_of_duplicates_are_each_rejected_and_one_kept(si_project, scripted):
    si_project["backend"]("teacher", scripted.url)
    line = "Name the capital city of the country given below."
    answer = " " + line + "".join(f"\n{n}. {line}" for n in range(10, 3010))

    def script(path, body, headers):
        if body["prompt"].startswith("Come up with a series of tasks"):
            return completion_reply(answer)
        return completion_reply(" No")

    scripted.script = script
    job_id = create(si_project, {"backend": "teacher", "max_prompts": 1, "generate_instances": False})
    run_job(job_id)
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        assert job.reasons == {"duplicate": 3000} and job.result["accepted"] == 1
        assert job.result["stopped"] == "pool_exhausted" and job.result["instructions_added"] == 1  # 1 in 500
        row = session.scalar(select(Instruction).where(Instruction.job_id == job_id))
        assert row.instruction == line and row.input == "" and row.candidates == []


def test_alpaca_mode_sends_the_alpaca_prompt_and_keeps_one_instance(si_project, scripted):
    si_project["backend"]("teacher", scripted.url)
    answer = (" Recommend a board game for a family of four.\n4. Input:\n<noinput>\n4. Output:\nTry Ticket to Ride.\n"
              "###\n5. Instruction: Compose music for a birthday party in the park.\n5. Input:\n<noinput>\n"
              "5. Output:\nA cheerful tune.\n###\n6. Instruction: Rewrite the sentence in the passive voice.\n"
              "6. Input:\nThe cat chased the mouse.\n6. Output:\nThe mouse was chased by the cat.\n###\n7. Instru")
    scripted.script = lambda path, body, headers: completion_reply(answer, finish_reason="length")
    job_id = create(si_project, {"backend": "teacher", "mode": "alpaca", "max_prompts": 1, "seed": 1})
    run_job(job_id)
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        assert job.params["prompt_instructions"] == 3 and job.params["classify"] is False
        assert job.reasons == {"blacklisted": 1, "truncated": 1} and job.result["accepted"] == 2
        rows = {r.instruction: r for r in session.scalars(select(Instruction).where(Instruction.job_id == job_id))}
        game = rows["Recommend a board game for a family of four."]
        assert game.input == "" and [c.text for c in game.candidates] == ["Try Ticket to Ride."]
        passive = rows["Rewrite the sentence in the passive voice."]
        assert passive.input == "The cat chased the mouse." and passive.meta["is_classification"] is None
    body = scripted.bodies()[0]
    assert body["prompt"].startswith("You are asked to come up with a set of 20 diverse task instructions.")
    assert len(re.findall(r"^\d\. Instruction: ", body["prompt"], flags=re.M)) == 3
    assert body["prompt"].endswith("###\n4. Instruction:") and "1. Output:\nreference answer" in body["prompt"]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["stop"]) == (1.0, 1.0, 3072, ["\n20", "20."])
    assert "presence_penalty" not in body and len(scripted.bodies()) == 1
