"""The backends-and-jobs loop in Chromium: an admin adds an OpenAI-compatible backend, tests it, starts an answer
job from the form, follows it on the job page, sees a failed item with the server's reason, and retries it.

The job runs in this process on the engine (what a worker's task calls), in a thread of its own: Playwright keeps
an event loop in the main thread, and the engine starts one per run."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import add_user, sign_in
from tests.conftest import reset_app_caches
from tests.support.openai_server import Reply, ScriptedServer, last_user_text

pytestmark = pytest.mark.browser
QUESTIONS = 12


@pytest.fixture
def teacher():
    """A scripted server that refuses one question with a 400 until told otherwise."""
    state = {"refuse": True}

    def script(path, body, headers):
        if state["refuse"] and last_user_text(body) == "Question 7":
            return Reply(status=400, json={"error": {"message": "question 7 breaks the content policy"}})
        return None

    with ScriptedServer(script) as server:
        server.state = state
        yield server


@pytest.fixture
def project(server) -> str:
    import secrets

    from app.models import Instruction, Project

    slug = f"jobs-{secrets.token_hex(3)}"
    with server.sessions.begin() as session:
        project = Project(name=f"Jobs {slug}", slug=slug)
        session.add(project)
        session.flush()
        session.add_all(Instruction(project_id=project.id, instruction=f"Question {i}", content_hash=f"{slug}-{i}")
                        for i in range(QUESTIONS))
    return slug


def _run_job(server, monkeypatch, job_id: int) -> None:
    """What the worker does with the queued job: the engine, on the server's database."""
    from app.jobs.runner import run_job

    monkeypatch.setenv("TUNELOOP_DATABASE_URL", server.database_url)
    reset_app_caches()
    errors: list[BaseException] = []

    def _go() -> None:
        try:
            run_job(job_id)
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=_go)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive() and not errors, errors


def test_admin_adds_a_backend_runs_an_answer_job_and_retries_its_failed_item(server, page, teacher, project,
                                                                             monkeypatch):
    sign_in(page, server, add_user(server, "admin"))
    page.goto(f"{server.url}/admin/backends/new")
    page.fill("#name", "teacher")
    page.select_option("#kind", "openai")
    page.fill("#base_url", teacher.url)
    page.fill("#model", "teacher-1")
    page.click("main button:has-text('Add backend')")
    page.wait_for_url("**/admin/backends?**")
    page.click("button[aria-label='Test teacher']")
    result = page.locator(".test-result").first
    result.locator(".latency").wait_for()
    assert "chat ✓" in result.inner_text()

    page.goto(f"{server.url}/jobs/new?project={project}&kind=answer")
    page.select_option("select[name=backend]", "teacher")
    page.fill("input[name=temperature]", "0")
    page.click("button:has-text('Start job')")
    page.wait_for_url("**/jobs/*")
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    assert page.locator("[data-status]").first.inner_text() == "queued"

    _run_job(server, monkeypatch, job_id)
    page.reload()
    assert page.locator("#job-status [data-status]").inner_text() == "succeeded"
    assert page.locator("[data-count=done] .stat").inner_text() == str(QUESTIONS - 1)
    assert page.locator("[data-count=failed] .stat").inner_text() == "1"
    assert page.locator("[data-result=candidates_added]").inner_text() == str(QUESTIONS - 1)
    # The failed item, with what the server said, from the counts' filter.
    page.locator("#item-rows tr.item").first.wait_for()  # the unfiltered list, loaded with the page
    page.click("[data-count=failed]")
    failed = page.locator("#item-rows tr.item")
    expect(failed).to_have_count(1)
    assert "content policy" in failed.first.inner_text()
    # Its raw answer and what was asked, one click away.
    failed.first.locator("button.link").click()
    page.locator(".item-detail").wait_for()
    assert "Question 7" in page.locator(".item-detail").inner_text()

    teacher.state["refuse"] = False
    page.click("button:has-text('Retry 1 failed')")
    page.wait_for_url(f"**/jobs/{job_id}")
    _run_job(server, monkeypatch, job_id)
    page.reload()
    assert page.locator("#job-status [data-status]").inner_text() == "succeeded"
    assert page.locator("[data-count=failed] .stat").inner_text() == "0"
    assert page.locator("[data-result=candidates_added]").inner_text() == str(QUESTIONS)
    asked = [last_user_text(b) for b in teacher.bodies() if "messages" in b and b.get("model") == "teacher-1"]
    assert asked.count("Question 7") == 2 and asked.count("Question 3") == 1  # only the failed one again
