"""What real servers do badly, seen through real answer jobs against the scripted server: each fault gives a
clear per-item (or per-job) error, nothing half-written remains, and retry or resume finishes the job."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select

from app.core.db import get_sessionmaker
from app.jobs.runner import BREAKER, run_job
from app.jobs.service import resume_job, retry_failed
from app.models import Backend, Candidate, Instruction, ItemStatus, Job, JobItem, JobStatus, StoredResponse
from tests.jobs.conftest import create
from tests.support.openai_server import Reply, ScriptedServer, chat_reply, last_user_text

OVER_LIMIT = 17 * 1024 * 1024


def _number(body) -> int:
    return int(re.search(r"\d+$", last_user_text(body)).group())


def _job(job_id) -> Job:
    with get_sessionmaker()() as session:
        return session.get(Job, job_id)


def _items(job_id) -> dict[int, JobItem]:
    """The job's items by question number."""
    with get_sessionmaker()() as session:
        items = session.scalars(select(JobItem).where(JobItem.job_id == job_id)).all()
        return {_number({"messages": i.input["messages"]}): i for i in items}


def _asked(server) -> dict[int, list[float]]:
    """When the server saw each question."""
    times: dict[int, list[float]] = {}
    for seen in server.seen:
        times.setdefault(_number(seen.body), []).append(seen.at)
    return times


def _again(job_id, action) -> None:
    with get_sessionmaker()() as session:
        action(session, job_id=job_id)
        session.commit()
    run_job(job_id)


def assert_nothing_half_written(job_id) -> None:
    """Counters match the items; only done items made candidates; every stored answer belongs to a handled item."""
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        by_status = dict(session.execute(select(JobItem.status, func.count()).where(JobItem.job_id == job_id)
                                         .group_by(JobItem.status)).all())
        assert (job.items_done, job.items_rejected, job.items_failed, job.items_pending) == tuple(
            by_status.get(s, 0) for s in (ItemStatus.done, ItemStatus.rejected, ItemStatus.failed, ItemStatus.pending))
        made = session.scalars(select(Candidate.instruction_id).where(Candidate.job_id == job_id)).all()
        done = session.scalars(select(JobItem.output).where(JobItem.job_id == job_id,
                                                            JobItem.status == ItemStatus.done)).all()
        assert len(made) == sum(out["added"] for out in done)
        assert set(made) <= {out["instruction_id"] for out in done}
        failed = session.scalars(select(JobItem).where(JobItem.job_id == job_id,
                                                       JobItem.status == ItemStatus.failed)).all()
        assert all(not i.output and i.error for i in failed)
        kept = set(session.scalars(select(StoredResponse.request_hash)))
        assert not kept & {i.request_hash for i in failed}


def test_a_batch_of_bad_answers_fails_item_by_item_and_retry_finishes(seeded, scripted):
    seeded["backend"]("teacher", scripted.url, max_concurrency=6, max_retries=1, timeout_s=1)
    fixed = False
    seen_500: dict[int, int] = {}

    def script(path, body, headers):
        n = _number(body)
        if fixed or n >= 9:
            return None
        if n == 0:
            return Reply(body=b'{"choices": [{"message": {"content": "cut', content_type="application/json")
        if n == 1:
            return Reply(body=b"<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
        if n == 2:
            return Reply(json={"id": "x", "choices": []})
        if n == 3:
            return chat_reply("A long answer that stops in the mid", finish_reason="length")
        if n == 4:
            return Reply(body=b'{"choices": [{"message": {"content": "' + b"x" * OVER_LIMIT + b'"}}]}')
        if n in (5, 6):
            seen_500[n] = seen_500.get(n, 0) + 1
            if seen_500[n] == 1:
                return (Reply(status=500, json={"error": {"message": "CUDA out of memory"}}) if n == 5 else
                        Reply(status=429, json={"error": {"message": "Rate limit reached"}},
                              headers={"Retry-After": "1"}))
            return None
        if n == 7:
            return Reply(status=400, json={"error": {"message": "prompt rejected by policy"}})
        return Reply(delay_s=2.5, json=chat_reply("too slow").json)  # 8

    scripted.script = script
    job_id = create(seeded, "answer", {"backend": "teacher", "temperature": 0})
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.succeeded and "3 failed" not in (job.error or "")
    items = _items(job_id)
    errors = {n: items[n].error for n in items}
    assert "answered with application/json, not JSON" in errors[0]
    assert "answered with text/html, not JSON" in errors[1] and "502 Bad Gateway" in errors[1]
    assert "answered without choices" in errors[2]
    assert (items[3].status, items[3].reason) == (ItemStatus.rejected, "truncated")
    assert "over 16 MiB" in errors[4]
    assert items[5].status == items[6].status == ItemStatus.done
    assert "HTTP 400: prompt rejected by policy" in errors[7]
    assert "did not answer within 1 s" in errors[8]
    assert [n for n in items if items[n].status == ItemStatus.failed] == [0, 1, 2, 4, 7, 8]
    asked = _asked(scripted)
    # Retried once (max_retries 1): garbled answers, 5xx, 429 and timeouts. Not retried: a 400, a cut-off
    # answer, an answer over the size limit.
    assert {n: len(t) for n, t in asked.items()} == {0: 2, 1: 2, 2: 2, 3: 1, 4: 1, 5: 2, 6: 2, 7: 1, 8: 2,
                                                     9: 1, 10: 1, 11: 1}
    gap = asked[6][1] - asked[6][0]
    assert gap >= 0.95, gap  # Retry-After: 1 was honoured (backoff alone waits at most 0.5 s before a first retry)
    assert_nothing_half_written(job_id)

    fixed = True
    _again(job_id, retry_failed)
    job = _job(job_id)
    assert job.status == JobStatus.succeeded and (job.items_done, job.items_rejected, job.items_failed) == (11, 1, 0)
    assert len(scripted.seen) == 18 + 6  # only the six failed items were asked again
    assert_nothing_half_written(job_id)

    # keep_truncated: the cut-off answer is kept as a candidate, from the stored answer (not asked again).
    kept = create(seeded, "answer", {"backend": "teacher", "temperature": 0, "keep_truncated": True,
                                     "filter": {"q": "Question number 3"}})
    run_job(kept)
    assert _items(kept)[3].status == ItemStatus.done and len(scripted.seen) == 24
    with get_sessionmaker()() as session:
        texts = session.scalars(select(Candidate.text).where(Candidate.job_id == kept)).all()
    assert texts == ["A long answer that stops in the mid"]


def test_wrong_or_missing_key_fails_the_job_naming_the_variable(seeded, scripted, monkeypatch):
    with get_sessionmaker()() as session:
        session.add(Backend(name="hosted", kind="openai", base_url=scripted.url, model="gpt-x",
                            api_key_env="HOSTED_API_KEY", limits={"max_retries": 3}))
        session.commit()

    def script(path, body, headers):
        if headers.get("authorization") != "Bearer sk-right-key-000111":
            sent = headers.get("authorization", "").removeprefix("Bearer ")
            return Reply(status=401, json={"error": {"message": f"Incorrect API key provided: {sent}."}})
        return None

    scripted.script = script
    monkeypatch.delenv("HOSTED_API_KEY", raising=False)
    job_id = create(seeded, "answer", {"backend": "hosted", "temperature": 0})
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.failed and "HOSTED_API_KEY" in job.error and "not set" in job.error
    assert scripted.seen == []

    monkeypatch.setenv("HOSTED_API_KEY", "sk-wrong-key-999888")
    _again(job_id, resume_job)
    job = _job(job_id)
    assert job.status == JobStatus.failed and "HTTP 401" in job.error and "HOSTED_API_KEY" in job.error
    assert "sk-wrong-key-999888" not in job.error and "[the API key]" in job.error
    assert len(scripted.seen) <= 8  # refused credentials stop the job at once: no retries, no 12 requests
    assert job.items_pending == 12  # nothing was marked failed for a job-wide fault

    monkeypatch.setenv("HOSTED_API_KEY", "sk-right-key-000111")
    _again(job_id, resume_job)
    assert _job(job_id).status == JobStatus.succeeded and _job(job_id).items_done == 12
    assert_nothing_half_written(job_id)


def test_a_url_that_does_not_answer_fails_each_item_and_retry_finishes(seeded):
    server = ScriptedServer()  # its port, not yet listening
    seeded["backend"]("teacher", server.url, max_retries=0)
    job_id = create(seeded, "answer", {"backend": "teacher", "temperature": 0})
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.succeeded and job.items_failed == 12
    assert all(f"at {server.url}/chat/completions could not be reached" in i.error for i in _items(job_id).values())
    assert_nothing_half_written(job_id)
    with server:
        _again(job_id, retry_failed)
    assert _job(job_id).items_done == 12


def test_many_failures_in_a_row_stop_the_job(seeded, scripted):
    with get_sessionmaker()() as session:
        session.add_all(Instruction(project_id=seeded["project"], instruction=f"Question number {i}",
                                    content_hash=f"more{i}") for i in range(12, 40))
        session.commit()
    seeded["backend"]("teacher", scripted.url, max_retries=0, max_concurrency=2)
    broken = True
    scripted.script = lambda path, body, headers: Reply(status=503, json={"error": "overloaded"}) if broken else None
    job_id = create(seeded, "answer", {"backend": "teacher", "temperature": 0})
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.failed
    in_a_row = re.match(r"(\d+) requests in a row failed, the last with: Backend 'teacher' answered HTTP 503: "
                        r"overloaded", job.error)
    assert in_a_row and int(in_a_row.group(1)) >= BREAKER and "resume it once the backend answers again" in job.error
    assert job.items_failed >= BREAKER and job.items_pending > 0 and len(scripted.seen) < 40
    assert_nothing_half_written(job_id)
    broken = False
    _again(job_id, retry_failed)
    assert _job(job_id).status == JobStatus.succeeded and _job(job_id).items_done == 40


def test_a_backend_deleted_mid_run_fails_the_job_and_resume_finishes_once_it_is_back(seeded, scripted):
    seeded["backend"]("teacher", scripted.url, max_concurrency=1)

    def script(path, body, headers):
        if _number(body) == 3:
            with get_sessionmaker()() as session:  # straight in the database, as an admin's script might
                session.execute(delete(Backend).where(Backend.name == "teacher"))
                session.commit()
        return Reply(delay_s=0.3, json=chat_reply(f"answer to {last_user_text(body)}").json)

    scripted.script = script
    job_id = create(seeded, "answer", {"backend": "teacher", "temperature": 0})
    run_job(job_id)
    job = _job(job_id)
    assert job.status == JobStatus.failed and job.error.startswith("Backend 'teacher' was deleted while the job ran")
    assert 0 < job.items_done < 12 and job.items_failed == 0
    assert_nothing_half_written(job_id)

    _again(job_id, resume_job)
    assert "Backend 'teacher' does not exist" in _job(job_id).error

    scripted.script = None
    seeded["backend"]("teacher", scripted.url, max_concurrency=1)
    _again(job_id, resume_job)
    job = _job(job_id)
    assert job.status == JobStatus.succeeded and job.items_done == 12
    asked = [_number(b) for b in scripted.bodies()]
    # Every question asked once, but the one in flight when the job stopped (its answer never arrived).
    assert sorted(set(asked)) == list(range(12)) and len(asked) - 12 <= 1, asked
    assert_nothing_half_written(job_id)
