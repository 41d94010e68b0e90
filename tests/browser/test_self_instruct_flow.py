"""Self-Instruct's loop in Chromium, on real workers: from the 175 seed tasks and a teacher backend an admin runs a
bootstrap round, every rejected candidate is listed with its reason, an annotator reviews the accepted
instructions on the paper's A–D scale, an export trains a LoRA run, and round 2 runs with the tuned model as its
generator (through Tuneloop's own model server); the report puts the rounds side by side.

The teacher is a scripted OpenAI-compatible server answering the original prompts with fixed numbered lists
(tests/self_instruct/test_bootstrap.py): known blacklisted words, a program, a too-short task, punctuation,
non-ASCII, a duplicate, a truncation and an answer with no list at all."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.browser.conftest import Server, add_user, sign_in, wait_until
from tests.conftest import SHARED_DATA
from tests.self_instruct.test_bootstrap import LISTS, teacher
from tests.support.openai_server import ScriptedServer

pytestmark = [pytest.mark.browser, pytest.mark.training]
SEEDS = 175


@pytest.fixture
def teacher_server():
    asked: list[str] = []
    with ScriptedServer(teacher(asked)) as server:
        server.asked = asked
        yield server


@pytest.fixture
def worker(model_server: Path, flow_worker: Path) -> Path:
    """The real worker, started once the model server's address is in the environment (round 2 asks it)."""
    return flow_worker


def _project(server: Server) -> str:
    """The paper's A–D scale; the queue leaves holdout rows out (where the seeds go); one annotator's submission
    approves an item (the annotator is the review)."""
    from app.models import Project

    slug = f"bootstrap-{secrets.token_hex(3)}"
    with server.sessions.begin() as session:
        session.add(Project(name=f"Bootstrap {slug}", slug=slug, settings={
            "rating_scale": "A-D", "exclude_holdout": True,
            "auto_approve": {"min_annotations": 1, "min_top1_agreement": 0}}))
    return slug


def _job_path(page) -> str:
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    return "/" + page.url.split("/", 3)[3]


def _status(page) -> str:
    return page.locator("#job-status [data-status]").inner_text()


def _count(page, name: str) -> int:
    return int(page.locator(f"[data-count={name}] .stat").inner_text())


def _import_seeds(page, server: Server, slug: str, worker: Path) -> None:
    page.goto(f"{server.url}/admin/imports")
    page.select_option("#im-project", slug)
    page.set_input_files("#im-file", str(SHARED_DATA / "self-instruct" / "seed_tasks.jsonl"))
    page.click("button:has-text('Start import')")
    page.wait_for_url(re.compile(r".*/admin/imports/\d+$"))
    path = "/" + page.url.split("/", 3)[3]
    wait_until(page, server, path, lambda p: "succeeded" in p.inner_text("main"), what="the seed import",
               worker_log=worker)


def _seeds_out_of_the_queue(page, server: Server, slug: str) -> None:
    """The seeds are human-written examples, not items to review: the admin moves them to the holdout split,
    page by page, from the instruction browser (the queue of this project leaves holdout rows out)."""
    while True:
        page.goto(f"{server.url}/admin/instructions?project={slug}&split=train&source=seed_tasks")
        boxes = page.locator("#bulk-form input[name=ids]")
        if boxes.count() == 0:
            return
        page.check('th input[aria-label="Select all on this page"]')
        page.check('input[name=action][value=set_split]')
        page.select_option("#bulk-form select[name=split]", "holdout")
        page.click("#bulk-form button[type=submit]")
        page.wait_for_load_state()


def _round(page, server: Server, slug: str, backend: str, worker: Path, **params: str) -> str:
    page.goto(f"{server.url}/jobs/new?project={slug}&kind=self-instruct")
    page.select_option('[name="backend"]', backend)
    for name, value in params.items():
        page.fill(f'[name="{name}"]', value)
    page.click("button:has-text('Start job')")
    path = _job_path(page)
    wait_until(page, server, path, lambda p: _status(p) in ("succeeded", "failed"), timeout=300,
               what=f"the round with {backend}", worker_log=worker)
    assert _status(page) == "succeeded", page.inner_text("#job-status")
    return path


def _rejections_are_listed_with_reasons(page, server: Server, path: str) -> int:
    """Every rejected item of the round is in the job page's list, each with its reason code."""
    page.goto(f"{server.url}{path}")
    rejected = _count(page, "rejected")
    page.locator("#item-rows tr.item").first.wait_for()
    page.click("[data-count=rejected]")
    rows = page.locator("#item-rows tr.item")
    expect(rows).to_have_count(rejected)
    reasons = [rows.nth(i).locator("[data-reason], .badge").first.inner_text() for i in range(rejected)]
    assert all(r.strip() for r in reasons), reasons
    return rejected


def _review_on_a_to_d(page, server: Server, slug: str) -> list[str]:
    """An annotator works through the queue by keyboard: the instance ranked first and rated A (valid and
    satisfying) for the first, B for the others; returns the letters given."""
    sign_in(page, server, add_user(server))
    page.goto(f"{server.url}/projects/{slug}")
    page.click("#start-btn")
    given = []
    while page.locator(".ann-cand").count():
        page.wait_for_function("document.activeElement && document.activeElement.classList.contains('ann-cand')")
        current = page.get_attribute("#task", "data-annotation")
        letter = "A" if not given else "B"
        assert page.locator(f'.ann-pill input[value="{letter}"]').count() >= 1  # the A-D scale is shown
        page.keyboard.press("1")
        page.keyboard.press("Shift+Digit1" if letter == "A" else "Shift+Digit2")
        page.keyboard.press("Control+Enter")
        page.wait_for_function(f"!document.querySelector('#task') || "
                               f"document.querySelector('#task').dataset.annotation !== '{current}'")
        given.append(letter)
    assert "Nothing left for you here" in page.inner_text("main")
    return given


def _export_and_train(page, server: Server, slug: str, tiny_model: Path, worker: Path) -> int:
    page.goto(f"{server.url}/exports")
    page.select_option("#x-project", slug)
    page.select_option("#x-format", "sft-messages")
    page.fill("#x-eval", "0")
    page.click("button:has-text('Create export')")
    page.wait_for_url(re.compile(r".*/exports/\d+$"))
    page.wait_for_selector("[data-status=succeeded]", timeout=90_000)
    export_id = int(page.url.rsplit("/", 1)[-1])
    page.goto(f"{server.url}/runs/new")
    page.select_option("#export", f"{slug}:{export_id}")
    page.fill("#base_model", str(tiny_model))
    page.select_option("#method", "sft-lora")
    for name, value in {"learning_rate": "0.005", "max_steps": "2", "per_device_train_batch_size": "4",
                        "max_length": "128", "save_steps": "2", "lora_r": "8", "lora_alpha": "16",
                        "lora_dropout": "0"}.items():
        page.fill(f"#{name}", value)
    page.click("button:has-text('Validate and start')")
    page.wait_for_url(re.compile(r".*/runs/\d+$"))
    run = int(page.url.rsplit("/", 1)[-1])

    def finished(pg) -> bool:
        state = pg.inner_text("#run-state")
        assert state not in ("failed", "cancelled"), pg.inner_text("main")[:3000]
        return state == "succeeded"

    wait_until(page, server, f"/runs/{run}", finished, timeout=240, what="the tuning run", worker_log=worker)
    return run


@pytest.mark.one_database("sqlite")
def test_two_bootstrap_rounds_the_second_from_the_model_the_first_trained(server, new_page, teacher_server,
                                                                           worker, tiny_model):
    from app.models import Instruction, JobItem

    slug = _project(server)
    admin = new_page()
    sign_in(admin, server, add_user(server, "admin"))
    _import_seeds(admin, server, slug, worker)
    with server.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Instruction)) == SEEDS
    _seeds_out_of_the_queue(admin, server, slug)

    # The teacher, added and tested from the backends page.
    admin.goto(f"{server.url}/admin/backends/new")
    admin.fill("#name", "teacher")
    admin.select_option("#kind", "openai")
    admin.fill("#base_url", teacher_server.url)
    admin.fill("#model", "teacher-1")
    admin.click("main button:has-text('Add backend')")
    admin.wait_for_url("**/admin/backends?**")

    # Round 1: four prompts to the teacher, with the original algorithm's defaults.
    first = _round(admin, server, slug, "teacher", worker, max_prompts=str(len(LISTS)), prompts_per_batch="1",
                   seed="3")
    assert len(teacher_server.asked) == len(LISTS)
    accepted = _count(admin, "done")
    rejected = _rejections_are_listed_with_reasons(admin, server, first)
    with server.sessions() as session:
        job_id = int(first.rsplit("/", 1)[-1])
        reasons = dict(session.execute(select(JobItem.reason, func.count()).where(
            JobItem.job_id == job_id, JobItem.status == "rejected").group_by(JobItem.reason)).all())
    assert sum(reasons.values()) == rejected and {"unparsable", "truncated", "write_a_program", "too_short",
                                                  "blacklisted", "duplicate"} <= set(reasons)
    for code, n in reasons.items():  # the counts by reason, on the page, each a filter to those items
        assert admin.locator(f'[data-reason="{code}"]').first.inner_text().endswith(f"· {n}")

    # The accepted instructions, with their instances, are reviewed on the A-D scale.
    given = _review_on_a_to_d(new_page(), server, slug)
    with server.sessions() as session:
        made = session.scalar(select(func.count()).select_from(Instruction).where(Instruction.job_id == job_id))
    assert len(given) == made > 0 and accepted > 0

    run = _export_and_train(admin, server, slug, tiny_model, worker)

    # The tuned run registered as a local backend (served by Tuneloop's model server) and tested like any other.
    admin.goto(f"{server.url}/admin/backends/new")
    admin.fill("#name", "round-1-model")
    admin.select_option("#kind", "local")
    admin.fill("#model", f"run-{run}")
    admin.click("main button:has-text('Add backend')")
    admin.wait_for_url("**/admin/backends?**")
    admin.click("button[aria-label='Test round-1-model']")
    tested = admin.locator(".test-result").first
    tested.locator(".latency").wait_for(timeout=60_000)
    assert "chat ✓" in tested.inner_text()

    # Round 2 with the tuned model as generator: its answers are mostly unusable, each rejection has its reason.
    second = _round(admin, server, slug, "round-1-model", worker, max_prompts="2", prompts_per_batch="1",
                    max_tokens="64", seed="5")
    assert _count(admin, "failed") == 0
    _rejections_are_listed_with_reasons(admin, server, second)

    # The report: both rounds side by side, with the A-D shares of the reviewed first round.
    admin.goto(f"{server.url}/projects/{slug}/self-instruct/report")
    rounds = admin.locator("table.si-report tr[data-round]")
    expect(rounds).to_have_count(2)
    one = admin.locator(f'table.si-report tr[data-round="{job_id}"]')
    assert one.locator('[data-col="prompts"]').inner_text() == str(len(LISTS))
    assert one.locator('[data-col="reviewed"]').inner_text() == str(len(given))
    a_share = round(100 * given.count("A") / len(given))
    assert one.locator('[data-share="A"]').inner_text() == f"{a_share}%"
