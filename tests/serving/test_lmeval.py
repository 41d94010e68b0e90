"""lm-evaluation-harness as the benchmark kind's second scorer, against the tiny model served by our own model
server: it scores the same stored task to the same log-likelihoods and accuracy as the built-in scorer, and an
endpoint that is down ends as a failed item that says so."""

from __future__ import annotations

import pytest

pytest.importorskip("lm_eval")
pytestmark = pytest.mark.slow

ROWS = [{"question": "Which is a colour?", "choices": ["blue", "seven", "walking"], "answer": 0},
        {"question": "What follows one?", "choices": ["two", "green"], "answer": "two"},
        {"question": "Pick the animal", "choices": ["cat", "table", "cloud"], "answer": 0},
        {"question": "Broken", "choices": ["only one"], "answer": 0},
        {"id": "q5", "question": "  Where do fish live? ", "choices": [" water", "sky ", "desert"], "answer": 0},
        {"question": "Which is bigger?", "choices": ["an elephant", "a mouse"], "answer": 0}]


def _benchmark_job(served, runner: str) -> int:
    import worker.lmeval  # noqa: F401  (the worker registers the harness runner as it starts)
    from app.core.db import get_sessionmaker
    from app.jobs.service import create_job
    from app.models import BenchmarkTask, Project

    with get_sessionmaker()() as session:
        project = Project(name="Harness", slug="harness")
        session.add(project)
        session.flush()
        session.add(BenchmarkTask(project_id=project.id, name="mc", rows=ROWS, size=len(ROWS), sha256="x"))
        job = create_job(session, user=None, project_slug="harness", kind_name="benchmark",
                         params={"task": "mc", "models": [served.backend], "runner": runner})
        session.commit()
        return job.id


def _pages(served, job_id: int) -> tuple[str, str]:
    """The job page and the project's evaluation page, as an admin sees them."""
    import secrets

    from app.core.db import get_sessionmaker
    from app.users.service import create_user
    from tests.conftest import login

    email = f"admin-{secrets.token_hex(3)}@example.com"
    with get_sessionmaker()() as session:
        create_user(session, email=email, password="correct horse battery", role="admin")
        session.commit()
    login(served.client, email)
    job_page, overview = served.client.get(f"/jobs/{job_id}"), served.client.get("/projects/harness/evaluation")
    assert job_page.status_code == 200 and overview.status_code == 200
    return job_page.text, overview.text


def _items(job_id: int, stage: str):
    from sqlalchemy import select

    from app.core.db import get_sessionmaker
    from app.models import JobItem

    with get_sessionmaker()() as session:
        return list(session.scalars(select(JobItem).where(JobItem.job_id == job_id, JobItem.stage == stage)))


def test_harness_and_builtin_agree_on_a_served_local_model(served):
    from app.core.db import get_sessionmaker
    from app.jobs.runner import run_job
    from app.models import Job, JobStatus

    job_id = _benchmark_job(served, "both")
    run_job(job_id)
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        result, state = job.result, job.state
        progress = job.items_total - job.items_pending
    builtin = result["scores"][served.backend]
    harness = result["lm_eval"][served.backend]
    assert result["malformed"] == 1 and builtin["n"] == harness["n"] == 5, (builtin, harness)
    assert harness["lm_eval_version"] == "0.4.13" and "error" not in harness
    # The strong check: the same log-likelihood of every choice, so the same accuracy.
    choices = {(i.input["line"], i.input["choice"]): i.output["logprob"] for i in _items(job_id, "choice")}
    (item,) = _items(job_id, "lm-eval")
    for doc in item.output["docs"]:
        ours = [choices[(doc["line"], c)] for c in range(len(doc["logprobs"]))]
        assert doc["logprobs"] == pytest.approx(ours, abs=1e-4), doc
    assert harness["accuracy"] == pytest.approx(builtin["accuracy"], abs=1e-9)
    assert item.output["acc"] == pytest.approx(harness["accuracy"], abs=1e-6)
    assert harness["accuracy_stderr"] == pytest.approx(item.output["acc_stderr"], abs=1e-6)
    # The harness normalises by the choice's characters, the built-in by the continuation's bytes: each is right
    # about its own definition.
    assert harness["accuracy_norm"] == pytest.approx(item.output["acc_norm"], abs=1e-6)
    # Its progress went into the job's state: every choice of every question, once.
    assert state["lm_eval_requests"] == 13 and state["lm_eval_progress"][served.backend] == [13, 13]
    assert progress == job.items_total
    job_page, overview = _pages(served, job_id)
    assert 'data-testid="lm-eval-results"' in job_page and "lm-evaluation-harness 0.4.13" in job_page
    assert 'data-testid="benchmark-results"' in job_page and "Built-in scorer" in job_page
    assert "lm-evaluation-harness acc" in overview


def test_harness_against_an_endpoint_that_is_down_fails_its_item(served, monkeypatch):
    from app.core.db import get_sessionmaker
    from app.jobs.runner import run_job
    from app.models import ItemStatus, Job, JobStatus
    from tests.conftest import reset_app_caches
    from tests.support.model_server import _free_port

    job_id = _benchmark_job(served, "lm-eval")
    down = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("TUNELOOP_MODEL_SERVER_URL", down)
    reset_app_caches()
    run_job(job_id)
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded and job.items_failed == 2, job.error  # the malformed line too
        harness = job.result["lm_eval"][served.backend]
    (item,) = _items(job_id, "lm-eval")
    assert item.status == ItemStatus.failed
    assert f"lm-evaluation-harness could not reach {down}/v1/completions" in item.error
    assert harness["accuracy"] is None and harness["error"] == item.error and job.result["scores"] == {}
    job_page, _ = _pages(served, job_id)
    assert "could not reach" in job_page and 'data-testid="benchmark-results"' not in job_page


def test_harness_errors_in_words():
    import requests

    from worker.lmeval.harness import _failure

    url = "http://127.0.0.1:9/v1/completions"
    refused = requests.exceptions.ConnectionError("Connection refused")
    assert _failure(url, refused).startswith(f"lm-evaluation-harness could not reach {url}: ConnectionError")
    response = requests.Response()
    response.status_code = 404
    missing = requests.exceptions.HTTPError("404 Client Error", response=response)
    assert _failure(url, missing).startswith(f"lm-evaluation-harness got HTTP 404 from {url}")
    assert _failure(url, ValueError("odd")) == f"lm-evaluation-harness failed against {url}: ValueError: odd"
