"""After a tuning round, in Chromium: the run page shows how the tuned model compares with its parent by judge
(with the judge's agreement with the annotators), by humans and by ROUGE-L, and the rounds page shows whether
the loop is improving.

Round 2's run finishes as the trainer reports it (`relay.finish`), which queues the evaluation the run names
(a pairwise judge and ROUGE-L against round 1's run); the jobs run on the engine in a thread of this process,
as a worker's task would run them. Both runs answer through a scripted OpenAI-compatible server (round 2 says
NEW and matches the references, round 1 says OLD); the judge prefers NEW on three tasks and OLD on the fourth,
so its win rate is 75 %. An annotator then compares the two runs blind in the browser and prefers NEW every
time: the run page shows the humans' 100 %, and the judge's agreement with them (3 of 4) with a warning.
"""

from __future__ import annotations

import re
import secrets
import threading

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Server, add_user, sign_in
from tests.conftest import reset_app_caches
from tests.support.openai_server import ScriptedServer, chat_reply, last_user_text

pytestmark = pytest.mark.browser
TASKS = 4
TASK = re.compile(r"Task (\d+):")
JUDGE_PREFERS_OLD = {3}


def _script(new_model: str):
    """Runs answer by their served model name; the judge decides by task number and never by position."""

    def script(path, body, headers):
        text = last_user_text(body)
        task = int(TASK.search(text).group(1))
        if body["model"] == "judge-1":
            new_first = text.index("NEW") < text.index("OLD")
            new_wins = task not in JUDGE_PREFERS_OLD
            return chat_reply(f"Weighing both. {'[[A]]' if new_wins == new_first else '[[B]]'}")
        if body["model"] == new_model:
            return chat_reply(f"NEW: the number {task} is small")
        return chat_reply(f"OLD: {task}")

    return script


@pytest.fixture
def judge_server():
    with ScriptedServer() as server:
        yield server


def _export(session, server: Server, project_id: int, version: int, approval_ids: list[int]):
    from app.models import Export, ExportStatus

    folder = server.log.parent / "var" / "exports" / f"p{project_id}" / f"v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "approval_ids.txt").write_text("".join(f"{i}\n" for i in approval_ids))
    export = Export(project_id=project_id, version=version, format="sft-messages", status=ExportStatus.succeeded,
                    path=str(folder), sha256=secrets.token_hex(32), row_counts={"train": len(approval_ids)},
                    files=[{"name": "train.jsonl", "split": "train", "rows": len(approval_ids)}])
    session.add(export)
    session.flush()
    return export


def _seed(server: Server, url: str) -> dict:
    """A project with TASKS evaluation tasks (with references) frozen into set 'core', the data of two rounds,
    round 1's run finished and round 2's run finalizing with the evaluation it names, and the backends."""
    from app.evaluation.sets import create_set
    from app.instructions.selection import InstructionFilter
    from app.models import (
        Approval,
        ApprovalMethod,
        Backend,
        Candidate,
        Instruction,
        InstructionStatus,
        Project,
        RunState,
        TuningRun,
    )

    slug = f"rounds-{secrets.token_hex(3)}"
    with server.sessions.begin() as session:
        project = Project(name=f"Rounds {slug}", slug=slug)
        session.add(project)
        session.flush()
        for i in range(TASKS):
            task = Instruction(project_id=project.id, instruction=f"Task {i}: describe the number {i}",
                               content_hash=f"{slug}-t{i}")
            session.add(task)
            session.flush()
            session.add(Candidate(instruction_id=task.id, text=f"the number {i} is small", origin="reference"))
        create_set(session, project=project, name="core", rules=InstructionFilter())
        approvals = []
        for i in range(3):  # the training data: approved pairs outside the evaluation set
            trained = Instruction(project_id=project.id, instruction=f"Say hello {i}", content_hash=f"{slug}-h{i}",
                                  status=InstructionStatus.approved, split="train")
            session.add(trained)
            session.flush()
            answer = Candidate(instruction_id=trained.id, text=f"Hello {i}!", origin="imported")
            session.add(answer)
            session.flush()
            approval = Approval(instruction_id=trained.id, project_id=project.id, final_response=answer.text,
                                final_candidate_id=answer.id, ranking=[[answer.id]], method=ApprovalMethod.api)
            session.add(approval)
            session.flush()
            approvals.append(approval.id)
        first = TuningRun(project_id=project.id, export_id=_export(session, server, project.id, 1, approvals[:1]).id,
                          method="sft-lora", base_model="/models/tiny", state=RunState.succeeded, name="round 1")
        second = TuningRun(project_id=project.id, export_id=_export(session, server, project.id, 2, approvals).id,
                           method="sft-lora", base_model="/models/tiny", state=RunState.finalizing, name="round 2",
                           settings={"evaluation": {"evaluation_set": "core", "judge": "judge", "baseline": None,
                                                    "reference_metrics": True}})
        session.add_all([first, second])
        session.flush()
        for name, model in ((f"run-{first.id}", "old-model"), (f"run-{second.id}", "new-model"),
                            ("judge", "judge-1")):
            session.add(Backend(name=name, kind="openai", base_url=url, model=model,
                                limits={"max_retries": 0, "max_concurrency": 4}))
        return {"slug": slug, "first": first.id, "second": second.id}


def _as_worker(server: Server, monkeypatch) -> None:
    """This process talks to the server's database, data folder and broker, as its worker would."""
    tmp = server.log.parent
    monkeypatch.setenv("TUNELOOP_DATABASE_URL", server.database_url)
    monkeypatch.setenv("TUNELOOP_DATA_DIR", str(tmp / "var"))
    monkeypatch.setenv("TUNELOOP_BROKER_URL", f"sqla+sqlite:///{tmp / 'broker.db'}")
    reset_app_caches()


def _finish_round_two(run_id: int) -> list[int]:
    """What the trainer does when it ends well; returns the evaluation jobs it queued."""
    from sqlalchemy import select

    from app.core.db import get_sessionmaker
    from app.models import Job, RunState
    from app.tuning import relay

    with get_sessionmaker()() as session:
        relay.finish(session, run_id, outcome=RunState.succeeded)
        session.commit()
        return list(session.scalars(select(Job.id).order_by(Job.id)))


def _run_jobs(job_ids: list[int]) -> None:
    """The engine on each queued job, in a thread: Playwright keeps an event loop in the main thread."""
    from app.jobs.runner import run_job

    errors: list[BaseException] = []

    def _go() -> None:
        try:
            for job_id in job_ids:
                run_job(job_id)
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=_go)
    thread.start()
    thread.join(timeout=180)
    assert not thread.is_alive() and not errors, errors


def _compare_blind(page, server: Server, slug: str, comparison_id: int) -> None:
    """An annotator prefers the NEW answer on every criterion that matters, by keys, wherever it is shown."""
    sign_in(page, server, add_user(server), next_path=f"/projects/{slug}")
    page.click(f'a[data-comparison="{comparison_id}"]')
    page.wait_for_url(f"**/comparisons/{comparison_id}/annotate")
    for _ in range(TASKS):
        assert "run-" not in page.inner_text("main")  # blind: no model names
        new_side = "1" if "NEW" in page.inner_text('[data-testid="left"]') else "3"
        page.locator('.pair-question[data-key="helpful"]').focus()
        for key in (new_side, "2", "2", new_side):  # helpful, honest (tie), harmless (tie), overall
            page.keyboard.press(key)
        current = page.get_attribute("#pair-task", "data-verdict")
        page.keyboard.press("Control+Enter")
        page.wait_for_function(f"document.querySelector('#pair-task') && "
                               f"document.querySelector('#pair-task').dataset.verdict !== '{current}'")
    assert "Nothing left for you here" in page.inner_text("#pair-task")


@pytest.mark.one_database("sqlite")
def test_run_page_compares_the_round_with_its_parent_and_the_rounds_page_shows_the_trend(
        server, new_page, judge_server, monkeypatch):
    _as_worker(server, monkeypatch)
    seeded = _seed(server, judge_server.url)
    first, second, slug = seeded["first"], seeded["second"], seeded["slug"]
    judge_server.script = _script("new-model")
    jobs = _finish_round_two(second)
    assert len(jobs) == 2  # the judge and ROUGE-L, as the run asked
    _run_jobs(jobs)

    admin = new_page()
    sign_in(admin, server, add_user(server, "admin"), next_path=f"/runs/{second}")
    admin.goto(f"{server.url}/runs/{second}")
    panel = admin.locator("#run-evaluation")
    assert f"Evaluation against run-{first}" in panel.locator("h2").inner_text()
    # By judge: three of four tasks, and no human verdicts yet to calibrate it against.
    assert admin.locator('[data-testid="run-winrate"] strong').inner_text() == "75.0%"
    assert f"run-{first}" in admin.inner_text('[data-testid="run-winrate"]')
    assert "not calibrated" in panel.inner_text()
    # By ROUGE-L: round 2 says the 5-word reference back after one word of its own (P 5/6, R 1: F 10/11);
    # round 1 shares one word with it.
    rouge = {row.locator("td").nth(0).inner_text(): float(row.locator("td").nth(1).inner_text())
             for row in panel.locator("table tbody tr").all()}
    assert rouge[f"run-{second}"] == pytest.approx(10 / 11, abs=1e-4)
    assert rouge[f"run-{first}"] < 0.5
    assert "No human comparison of this run yet." in panel.inner_text()

    # The admin asks for a human comparison of the two runs from the evaluation page.
    admin.goto(f"{server.url}/projects/{slug}/evaluation")
    admin.fill("#cmp-name", "Round 2 against round 1")
    admin.select_option("#cmp-evaluation_set", "core")
    offered = admin.locator("#answered-models option").evaluate_all("options => options.map(o => o.value)")
    assert {f"run-{first}", f"run-{second}"} <= set(offered)  # the models with answers, offered as you type
    admin.fill("#cmp-model_a", f"run-{second}")
    admin.fill("#cmp-model_b", f"run-{first}")
    admin.locator("form[action$='/comparisons'] button[type=submit]").click()
    admin.wait_for_url("**/evaluation#comparisons")
    expect(admin.locator("#comparisons, .comparison").first).to_contain_text("Round 2 against round 1")
    comparison_id = _latest_comparison(server)

    _compare_blind(new_page(), server, slug, comparison_id)

    admin.goto(f"{server.url}/runs/{second}")
    panel = admin.locator("#run-evaluation")
    humans = panel.locator("h3:has-text('By humans') + p")
    expect(humans).to_contain_text("Round 2 against round 1")
    assert f"run-{second} wins 100.0% ({TASKS} of {TASKS} verdicts)" in humans.inner_text()
    calibration = panel.locator("[data-calibration]").inner_text()
    assert "agreement 75%" in calibration and f"{TASKS} pairs" in calibration
    assert "⚠" in calibration  # a judge that disagrees this often is not to be trusted alone

    # The rounds page: round 2 beat round 1, in the table and in the chart's data.
    admin.goto(f"{server.url}/projects/{slug}/rounds")
    rows = admin.locator('[data-testid="rounds"] tr[data-round]')
    expect(rows).to_have_count(2)
    assert "not judged" in rows.nth(0).locator("[data-winrate]").inner_text()
    assert rows.nth(1).locator("[data-winrate] a").inner_text() == "75.0%"
    assert f"vs run-{first}" in rows.nth(1).locator("[data-winrate]").inner_text()
    chart = admin.evaluate("JSON.parse(document.getElementById('rounds-data').textContent)")
    assert chart["round"] == [1, 2] and chart["win_rate"] == [None, 0.75]
    admin.locator("#rounds-chart canvas").first.wait_for()  # drawn, not just data


def _latest_comparison(server: Server) -> int:
    from sqlalchemy import func, select

    from app.models import HumanComparison

    with server.sessions() as session:
        return session.scalar(select(func.max(HumanComparison.id)))
