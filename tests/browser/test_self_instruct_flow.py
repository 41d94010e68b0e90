"""Self-Instruct's loop in Chromium, on real workers: from the 175 seed tasks and a teacher backend an admin runs a
bootstrap round, every rejected candidate is listed with its reason, an annotator reviews the accepted
instructions on the paper's A–D scale, an export trains a LoRA run, and round 2 runs with the tuned model as its
generator (through Tuneloop's own model server); the report puts the rounds side by side.

The teacher is a scripted OpenAI-compatible server answering the original prompts with fixed numbered lists
(those of tests/self_instruct/test_bootstrap.py, and one more written against the real seeds): blacklisted
words, a program, too-short tasks, punctuation, non-ASCII, a near copy of one of the 175 seeds, a near copy of
an accepted instruction, a duplicate, a truncation and an answer with no list at all."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.browser.conftest import Server, add_user, sign_in, train_from_form, wait_until
from tests.conftest import SHARED_DATA
from tests.self_instruct.test_bootstrap import LISTS, teacher
from tests.support.openai_server import ScriptedServer, completion_reply

pytestmark = [pytest.mark.browser, pytest.mark.training]
SEEDS = 175
# seed_task_9 of seed_tasks.jsonl, which the fifth list copies nearly word for word.
SEED = "Recommend a movie for me to watch during the weekend and explain the reason."
# The unit test's lists were written against its own small seed set; this one is written against the real seeds,
# so that the round also shows a candidate rejected for being too close to a human-written seed.
ROUND_ONE = [*LISTS, (" Recommend a good movie for me to watch during the weekend and explain the reason.\n"
                      "10. Plot a graph of the monthly rainfall in Seattle over the last year.\n"
                      "11. Name a color.", "stop")]
# What the job page must list as rejected in round 1, by what was asked: each candidate with the reason the
# filters gave, the answer with no list under its prompt, and the task whose instances contradict each other.
REJECTED = {
    "Draw a picture of a cat sitting on a windowsill at sunset.": "blacklisted",
    "Plot a graph of the monthly rainfall in Seattle over the last year.": "blacklisted",
    "Write a program that prints the first ten prime numbers.": "write_a_program",
    "Fix typos.": "too_short",
    "Name a color.": "too_short",
    "\"Explain why the sky appears blue during the day.\"": "starts_with_punctuation",
    "Élaborez un plan de cours pour une classe de français.": "non_ascii_start",
    "Recommend a good movie for me to watch during the weekend and explain the reason.": "too_similar",
    "Summarize the main argument of the given op-ed article in 3 sentences.": "too_similar",
    "Suggest five creative names for a neighborhood coffee shop that sells books.": "duplicate",
    "Give me a list of the ten tallest mountains in": "truncated",
    "Convert the given temperature from Fahrenheit to Celsius and show the steps.": "no_instances",
}


def _teacher(asked: list[str]):
    """The unit test's teacher for classification and instances; the task lists come from ROUND_ONE."""
    others = teacher([])

    def script(path, body, headers):
        if body["prompt"].startswith("Come up with a series of tasks"):
            asked.append(body["prompt"])
            text, finish = ROUND_ONE[len(asked) - 1]
            return completion_reply(text, finish_reason=finish)
        return others(path, body, headers)
    return script


@pytest.fixture
def teacher_server():
    asked: list[str] = []
    with ScriptedServer(_teacher(asked)) as server:
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
    page by page, from the instruction browser (the queue of this project leaves holdout rows out). Each action
    comes back to the same filtered list, which then shows the next page of seeds still in train."""
    page.goto(f"{server.url}/admin/instructions?project={slug}&split=train&source=seed_tasks")
    moved = 0
    while page.locator("#bulk-form input[name=ids]").count():
        page.check('th input[aria-label="Select all on this page"]')
        page.check('input[name=action][value=set_split]')
        page.select_option("#bulk-form select[name=split]", "holdout")
        with page.expect_navigation():  # every page comes back to the same address: wait for the load itself
            page.click("#bulk-form button[type=submit]")
        moved += int(re.search(r"set_split(?::|%3A)(\d+)", page.url).group(1))
    assert moved == SEEDS


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


class Rejection(NamedTuple):
    asked: str
    reason: str
    made: str


def _rejections_on_page(page, server: Server, path: str) -> list[Rejection]:
    """The job page's rejected items, as its list shows them once the "rejected" count is clicked: every one of
    them (as many rows as the count says), each with a reason code, and the counts by reason adding up."""
    page.goto(f"{server.url}{path}")
    rejected = _count(page, "rejected")
    page.locator("#item-rows tr.item").first.wait_for()
    page.click("[data-count=rejected]")
    expect(page.locator("#item-rows tr.item:not([data-status=rejected])")).to_have_count(0)
    expect(page.locator("#item-rows tr.item")).to_have_count(rejected)
    rows = [Rejection(*(t.strip() for t in row)) for row in page.eval_on_selector_all(
        "#item-rows tr.item", "rows => rows.map(r => [r.cells[3].innerText, "
        "(r.cells[2].querySelector('code') || {innerText: ''}).innerText, r.cells[4].innerText])")]
    assert all(r.reason for r in rows), [r for r in rows if not r.reason]
    by_reason = Counter(r.reason for r in rows)
    badges = dict(b.rsplit(" · ", 1) for b in page.locator(".reasons [data-reason]").all_inner_texts())
    assert {code: int(n) for code, n in badges.items()} == by_reason
    return rows


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
    return train_from_form(page, server, export=f"{slug}:{export_id}", model=tiny_model, worker=worker)


@pytest.mark.one_database("sqlite")
def test_two_bootstrap_rounds_the_second_from_the_model_the_first_trained(server, new_page, teacher_server,
                                                                           worker, tiny_model):
    from app.models import Instruction

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

    # Round 1: five prompts to the teacher, with the original algorithm's defaults.
    first = _round(admin, server, slug, "teacher", worker, max_prompts=str(len(ROUND_ONE)), prompts_per_batch="1",
                   seed="3")
    job_id = int(first.rsplit("/", 1)[-1])
    assert len(teacher_server.asked) == len(ROUND_ONE)
    accepted = _count(admin, "done")
    rejections = _rejections_on_page(admin, server, first)
    shown = {r.asked: r.reason for r in rejections}
    unparsable = [r for r in rejections if r.asked.startswith("prompt ")]
    assert [r.reason for r in unparsable] == ["unparsable"] and "sorry" in unparsable[0].made, unparsable
    assert {a: r for a, r in shown.items() if not a.startswith("prompt ")} == REJECTED
    # Which seed a near copy was too close to, and how close, is on the page too.
    copy = next(r for r in rejections if r.asked.startswith("Recommend a good movie"))
    assert SEED in copy.made and re.search(r"too_similar: 0\.\d\d with", copy.made), copy.made

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
                    max_tokens="64", instances_max_tokens="32", seed="5")
    assert _count(admin, "failed") == 0
    second_done = _count(admin, "done")
    second_rejections = _rejections_on_page(admin, server, second)
    assert second_done + len(second_rejections) >= 2  # each of the two prompts shows what became of its answer

    # The report: both rounds side by side, each with its generator, the second's being the tuned run; the
    # rejections by reason are those the job pages listed; the A-D shares are those of the reviewed first round.
    admin.goto(f"{server.url}/projects/{slug}/self-instruct/report")
    rounds = admin.locator("table.si-report tr[data-round]")
    expect(rounds).to_have_count(2)
    one = admin.locator(f'table.si-report tr[data-round="{job_id}"]')
    two = admin.locator(f'table.si-report tr[data-round="{second.rsplit("/", 1)[-1]}"]')
    assert "teacher-1" in one.locator("td").nth(1).inner_text()
    assert f"run-{run}" in two.locator("td").nth(1).inner_text()
    assert two.locator('[data-col="prompts"]').inner_text() == "2"
    for row, listed in ((one, rejections), (two, second_rejections)):
        by_reason = Counter(r.reason for r in listed if r.reason not in ("unparsable", "no_instances"))
        for code, n in by_reason.items():
            assert row.locator(f'[data-reason="{code}"]').inner_text() == str(n), code
    assert one.locator('[data-col="prompts"]').inner_text() == str(len(ROUND_ONE))
    assert one.locator('[data-col="reviewed"]').inner_text() == str(len(given))
    a_share = round(100 * given.count("A") / len(given))
    assert one.locator('[data-share="A"]').inner_text() == f"{a_share}%"
