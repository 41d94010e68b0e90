"""LIMA-style curation in Chromium, on a real worker: an admin filters a project's data by rules, scores it with a
judge, curates a diverse subset, launches an ablation of that subset against a random sample of the same size and
the whole set, and reads from one table which wins.

Scaled down from the issue's 1,000: twelve topics, each a plain instruction and a near-duplicate rephrasing that
the judge scores higher, plus four items whose short answers the rules refuse. The judge and the embeddings are a
scripted OpenAI-compatible server (bag-of-words embeddings: a rephrasing sits at cosine 0.935 to its original);
the ablation trains the tiny model for a few steps per arm."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.browser.conftest import Server, add_user, sign_in, wait_until
from tests.curation.conftest import base_text, judge, variant_text
from tests.support.openai_server import ScriptedServer

pytestmark = [pytest.mark.browser, pytest.mark.training]
TOPICS = 12
SHORT = 4
SUBSET = 6
HELD_OUT = 4


@pytest.fixture
def teacher():
    with ScriptedServer(judge) as server:
        yield server


def _seed(server: Server, url: str) -> str:
    from app.models import Backend, Project
    from tests.exports.conftest import add_approved

    slug = f"lima-{secrets.token_hex(3)}"
    with server.sessions.begin() as session:
        project = Project(name=f"LIMA {slug}", slug=slug)
        session.add(project)
        session.flush()
        answer = "A clear, complete answer that explains the steps and why each one matters."
        for topic in range(TOPICS):
            for text in (base_text(topic), variant_text(topic)):
                add_approved(session, project, instruction=text, candidates=[f"{answer} ({text})"])
        for i in range(SHORT):  # answers too short to teach anything: the rules refuse them
            add_approved(session, project, instruction=f"short{i} question here", candidates=["ok"])
        for i in range(HELD_OUT):  # held-out examples every arm is evaluated on
            add_approved(session, project, instruction=f"held out question {i}", split="eval",
                         candidates=[f"{answer} Held out {i}."])
        session.add(Backend(name="teacher", kind="openai", base_url=url, model="judge-1",
                            limits={"max_retries": 0, "max_concurrency": 4}))
    return slug


def _start_job(page, server: Server, slug: str, kind: str, fields: dict[str, str]) -> str:
    """Fill the kind's form (dotted names for nested fields) and start it; returns the job page's path."""
    page.goto(f"{server.url}/jobs/new?project={slug}&kind={kind}")
    for name, value in fields.items():
        field = page.locator(f'[name="{name}"]')
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.click("button:has-text('Start job')")
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    return "/" + page.url.split("/", 3)[3]


def _finished(page) -> bool:
    return page.locator("#job-status [data-status]").inner_text() in ("succeeded", "failed")


def _status(page) -> str:
    return page.locator("#job-status [data-status]").inner_text()


def _count(page, name: str) -> int:
    return int(page.locator(f"[data-count={name}] .stat").inner_text())


@pytest.mark.one_database("sqlite")
def test_admin_filters_scores_curates_and_reads_the_ablation_table(server, page, teacher, flow_worker,
                                                                  tiny_model: Path):
    slug = _seed(server, teacher.url)
    sign_in(page, server, add_user(server, "admin"))

    # Rules: only length matters for this data; the four short answers are refused with the rule's code.
    job = _start_job(page, server, slug, "quality-filter", {"rules.preset": "none", "rules.min_chars": "20"})
    wait_until(page, server, job, _finished, what="the quality filter", worker_log=flow_worker)
    assert _status(page) == "succeeded"
    assert (_count(page, "done"), _count(page, "rejected")) == (2 * TOPICS + HELD_OUT, SHORT)
    reason = page.locator("[data-reason]").first
    assert "· 4" in reason.inner_text()

    # The judge: rephrasings score 5, originals 3; the curation page shows the distribution.
    job = _start_job(page, server, slug, "quality-score", {"backend": "teacher"})
    wait_until(page, server, job, _finished, what="the judge", worker_log=flow_worker)
    assert _status(page) == "succeeded"
    page.goto(f"{server.url}/projects/{slug}/curation")
    everything = 2 * TOPICS + SHORT + HELD_OUT
    mean = (5 * TOPICS + 3 * (everything - TOPICS)) / everything
    assert f"{everything} scored, mean {mean:g}" in page.inner_text('[data-series="judge"]')

    # A diverse subset: best first, never two near-duplicates (a topic's two versions), refused items left out.
    job = _start_job(page, server, slug, "curate", {"target_n": str(SUBSET), "embedding_model": "teacher",
                                                     "subset": "diverse"})
    wait_until(page, server, job, _finished, what="the curation", worker_log=flow_worker)
    assert _status(page) == "succeeded", page.inner_text("#job-status")
    page.goto(f"{server.url}/projects/{slug}/curation")
    row = page.locator('tr[data-subset="diverse"]')
    assert row.locator("td").nth(1).inner_text() == str(SUBSET)
    chosen = _subset_texts(server, slug, "diverse")
    assert len({t.split("x")[0] for t in chosen}) == SUBSET  # six topics, one version each
    assert all(" extra" in t for t in chosen)  # the judge's 5s first
    assert not any(t.startswith("short") for t in chosen)

    # The ablation, from its one form: the subset, a random sample of its size and the whole set.
    page.goto(f"{server.url}/projects/{slug}/ablations")
    page.fill('[name="name"]', "diverse vs random vs all")
    page.fill('[name="base_model"]', str(tiny_model))
    page.select_option('[name="subset"]', "diverse")
    for arm in ("curated", "random", "whole"):
        page.check(f'[name="arm"][value="{arm}"]')
    page.fill('[name="random_n"]', str(SUBSET))
    page.fill('[name="max_steps"]', "2")
    page.fill('[name="per_device_train_batch_size"]', "4")
    page.fill('[name="learning_rate"]', "0.005")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/ablations/\d+$"))
    path = "/" + page.url.split("/", 3)[3]
    wait_until(page, server, path, lambda p: p.locator("[data-status]").first.inner_text() != "running",
               timeout=420, what="the ablation", worker_log=flow_worker)
    assert page.locator("[data-status]").first.inner_text() == "succeeded", page.inner_text("main")[:2000]

    # One table: three arms trained, each with its rows and eval loss, and one marked as the winner.
    rows = page.locator("table[data-ablation] tbody tr")
    assert rows.count() == 3
    names = [rows.nth(i).locator("td").first.inner_text() for i in range(3)]
    train_rows = [rows.nth(i).locator("td").nth(2).inner_text() for i in range(3)]
    # The whole set is everything approved for training, the refused short answers included.
    assert train_rows == [str(SUBSET), str(SUBSET), str(2 * TOPICS + SHORT)], (names, train_rows)
    losses = [float(rows.nth(i).locator("[data-loss]").inner_text().split()[0]) for i in range(3)]
    assert all(loss > 0 for loss in losses)
    best = page.locator("table[data-ablation] tbody tr.best")
    assert best.count() == 1
    winner = losses.index(min(losses))
    assert best.get_attribute("data-arm") == str(winner + 1), (names, losses)
    assert best.locator("[data-best]").inner_text() in ("best", "lowest")


def _subset_texts(server: Server, slug: str, name: str) -> list[str]:
    from app.curation import subsets
    from app.models import Instruction, Project

    with server.sessions() as session:
        project = session.scalar(select(Project).where(Project.slug == slug))
        ids = subsets.member_ids(session, subsets.find(session, project.id, name).id)
        return list(session.scalars(select(Instruction.instruction).where(Instruction.id.in_(ids))))
