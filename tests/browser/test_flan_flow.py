"""Flan templates to a trained model, in Chromium on a real worker: an admin imports two datasets (from two Flan
sources), writes a template for each with the preview showing, renders them into instructions, an annotator
reviews a sample and a reviewer approves one and rejects another, the admin exports a Flan-style mixture whose
page shows the recipe was met (the rejected row left out), and trains the tiny decoder-only model on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import Server, add_user, sign_in, train_from_form
from tests.exports.conftest import add_project

pytestmark = [pytest.mark.browser, pytest.mark.training]
SLUG = "flan-flow"
RECORDS = 6
DATASETS = {  # name: (task, source, records, template, answer choices)
    "nli": ("nli", "Flan2021", [{"premise": f"A man plays guitar number {i}.", "hypothesis": "A man plays music.",
                                 "label": i % 2} for i in range(RECORDS)],
            "{{ premise }} Does it follow that {{ hypothesis }} ||| {{ answer_choices[label] }}", "no ||| yes"),
    "sentiment": ("sentiment", "T0", [{"review": f"Film number {i} was {'great' if i % 2 else 'dull'}.",
                                       "label": i % 2} for i in range(RECORDS)],
                  "Review: {{ review }} Is this review positive? ||| {{ answer_choices[label] }}", "no ||| yes"),
}
MIXTURE_ROWS = 8


def _import(page, server: Server, name: str, tmp_path: Path) -> None:
    task, source, records, _, _ = DATASETS[name]
    data = tmp_path / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    page.goto(f"{server.url}/projects/{SLUG}/datasets")
    page.set_input_files("#ds-file", str(data))
    page.fill("#ds-name", name)
    page.fill("#ds-task", task)
    page.fill("#ds-source", source)
    page.click("button:has-text('Import')")
    page.wait_for_url(f"**/datasets/{name}")
    assert page.locator(f"text={RECORDS} records").count() == 1


def _template(page, server: Server, name: str) -> None:
    task, _, _, jinja, choices = DATASETS[name]
    page.goto(f"{server.url}/projects/{SLUG}/datasets/{name}")
    page.click("text=Write one")
    page.wait_for_url(f"**/templates/new?task={task}")
    page.fill("#t-name", f"{name}-main")
    page.fill("#t-choices", choices)
    page.fill("#t-jinja", jinja)
    # The preview renders stored records as they are typed: five of them, with nothing to fix.
    expect(page.locator("#preview pre.target")).to_have_count(5)
    expect(page.locator("#preview [data-code]")).to_have_count(0)
    page.click("button:has-text('Save')")
    page.wait_for_url(f"**/projects/{SLUG}/templates")


def _render(page, server: Server, name: str) -> None:
    page.goto(f"{server.url}/projects/{SLUG}/datasets/{name}")
    page.uncheck("input[value=fs-opt]")
    page.uncheck("input[value=fs-noopt]")
    page.fill("#r-tok", "whitespace")
    page.click("button:has-text('Render')")
    page.wait_for_selector(".render-job .badge.succeeded", timeout=90_000)
    assert f"{2 * RECORDS} instructions, each with a reference candidate" in page.inner_text(".render-job")


def _annotate(page, server: Server, count: int) -> None:
    """An annotator reviews `count` rendered rows by keyboard: the reference answer ranked and rated good."""
    sign_in(page, server, add_user(server))
    page.goto(f"{server.url}/projects/{SLUG}")
    page.click("#start-btn")
    for _ in range(count):
        page.wait_for_function("document.activeElement && document.activeElement.classList.contains('ann-cand')")
        current = page.get_attribute("#task", "data-annotation")
        page.keyboard.press("1")
        page.keyboard.press("Shift+Digit4")
        page.keyboard.press("Control+Enter")
        page.wait_for_function(f"!document.querySelector('#task') || "
                               f"document.querySelector('#task').dataset.annotation !== '{current}'")


def _review_list(page, server: Server, status: str) -> list[int]:
    """The instruction ids the review list shows for the project under a status, as a reviewer filters it."""
    page.goto(f"{server.url}/review?project={SLUG}&status={status}")
    links = page.locator(".review-table tbody tr td.grow a")
    return [int(href.rsplit("/", 1)[-1]) for href in (links.nth(i).get_attribute("href")
                                                       for i in range(links.count()))]


def _review(page, server: Server) -> tuple[int, int]:
    """A reviewer opens the annotated sample from the review list, approves its first row and rejects its
    second; the list then files each under its decision. Returns (approved, rejected)."""
    sign_in(page, server, add_user(server, "reviewer"), next_path="/review")
    sample = _review_list(page, server, "submitted")
    assert len(sample) == 2, page.inner_text("main")[:2000]  # exactly the two rows the annotator submitted
    approve, reject = sample
    page.click(f'.review-table a[href="/review/{approve}"]')
    page.wait_for_url(f"**/review/{approve}")
    page.click('[data-testid="approve"]')
    page.wait_for_url(f"**/review/{approve}?done=approved")
    assert page.inner_text('[data-testid="status"]') == "approved"
    page.goto(f"{server.url}/review?project={SLUG}")
    page.click(f'.review-table a[href="/review/{reject}"]')
    page.wait_for_url(f"**/review/{reject}")
    page.once("dialog", lambda d: d.accept())
    page.click('[data-testid="reject"]')
    page.wait_for_url(f"**/review/{reject}?done=rejected")
    assert page.inner_text('[data-testid="status"]') == "rejected"
    assert _review_list(page, server, "submitted") == []
    assert _review_list(page, server, "approved") == [approve]
    assert _review_list(page, server, "rejected") == [reject]
    return approve, reject


def _export_mixture(page, server: Server) -> int:
    page.goto(f"{server.url}/exports")
    page.select_option("#x-project", SLUG)
    page.select_option("#x-format", "sft-messages")
    page.fill("#x-eval", "0")
    page.select_option("#x-mix", "custom")
    page.fill("#x-mix-total", str(MIXTURE_ROWS))
    page.fill("#x-mix-weights", "Flan2021=0.5\nT0=0.5")
    page.fill("#x-mix-settings", "zs-opt=0.5\nzs-noopt=0.5")
    page.click("button:has-text('Create export')")
    page.wait_for_url(re.compile(r".*/exports/\d+$"))
    page.wait_for_selector("[data-status=succeeded]", timeout=90_000)
    return int(page.url.rsplit("/", 1)[-1])


def _run_figure(page, label: str) -> str:
    """A figure from the run page's status card, found by its label as a user reads it."""
    return page.locator(f".run-figures > div:has(> div.muted:text-is('{label}')) .stat").inner_text().strip()


@pytest.mark.one_database("postgresql")
def test_admin_goes_from_datasets_to_a_mixture_that_meets_its_recipe_and_a_trained_model(
        server, new_page, flow_worker, tiny_model, tmp_path):
    with server.sessions.begin() as session:
        add_project(session, SLUG)
    admin = new_page()
    sign_in(admin, server, add_user(server, "admin"), f"/projects/{SLUG}/datasets")
    # The live preview, the render job and the run page all need HTMX: without its vendored file (a fresh
    # checkout before `make frontend`) the flow would stall at the preview with nothing to say why.
    assert admin.evaluate("typeof htmx") == "object", "app/static/vendor/htmx.min.js is missing: make frontend"
    for name in DATASETS:
        _import(admin, server, name, tmp_path)
        _template(admin, server, name)
        _render(admin, server, name)

    # A sample reviewed: two rendered rows annotated; the reviewer approves one and rejects the other.
    _annotate(new_page(), server, 2)
    _approved, rejected = _review(new_page(), server)

    export_id = _export_mixture(admin, server)
    mixture = admin.locator("#mixture")
    assert mixture.get_attribute("data-met") == "yes" and "recipe met" in mixture.inner_text()
    shares = {source: admin.locator(f'#mixture tr[data-source="{source}"] [data-share]').inner_text()
              for source in ("Flan2021", "T0")}
    assert shares == {"Flan2021": "50.0%", "T0": "50.0%"}
    # Each dataset rendered 2 x RECORDS rows; the rejected one is no longer there to draw from.
    available = sum(int(admin.locator(f'#mixture tr[data-source="{source}"] td').nth(4).inner_text())
                    for source in ("Flan2021", "T0"))
    assert available == 2 * 2 * RECORDS - 1
    # Realised counts per task and per template type, as the manifest states them: an even split of 8 rows.
    tasks = {task: admin.locator(f'#mixture [data-task="{task}"]').inner_text() for task in ("nli", "sentiment")}
    assert tasks == {"nli": "nli · 4", "sentiment": "sentiment · 4"}
    assert "zs-opt · 4" in mixture.inner_text() and "zs-noopt · 4" in mixture.inner_text()
    assert admin.locator("tr:has-text('train.jsonl') td").nth(2).inner_text() == str(MIXTURE_ROWS)
    with server.sessions() as session:
        from app.models import Export

        folder = Path(session.scalar(select(Export.path).where(Export.id == export_id)))
    picked = {int(i) for i in (folder / "instruction_ids.txt").read_text().split()}
    assert len(picked) == MIXTURE_ROWS and rejected not in picked  # a rejected row never enters a mixture

    train_from_form(admin, server, export=f"{SLUG}:{export_id}", model=tiny_model, worker=flow_worker)
    # The run page the admin lands on: trained on this mixture, both steps done, a loss reported, every
    # validation check passed.
    assert admin.locator("#run-state").inner_text() == "succeeded"
    assert admin.locator(f'a[href="/exports/{export_id}"]').count() == 1
    assert _run_figure(admin, "Step") == "2 / 2"
    float(_run_figure(admin, "Loss"))  # a number, not the "—" shown before any step is logged
    checks = admin.locator(".card:has(h2:text-is('Validation')) tbody tr")
    assert checks.count() > 0 and checks.locator(".badge.bad").count() == 0
