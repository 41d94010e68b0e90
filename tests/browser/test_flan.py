"""In Chromium: an admin imports a dataset, writes a template while the preview names each mistake as it is
typed, saves it, and renders the dataset; a real worker stores the rows and the page shows the result."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import add_user, sign_in
from tests.browser.test_exports import export_worker  # noqa: F401 - the fixture, reused
from tests.exports.conftest import add_project

pytestmark = pytest.mark.browser
RECORDS = [{"premise": f"A man plays guitar number {i}.", "hypothesis": "A man plays music.", "label": i % 2}
           for i in range(6)]


# One database is enough in the browser: the same flow runs on both databases in tests/flan without one.
@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_admin_writes_a_template_with_live_preview_and_renders(server, page, export_worker, tmp_path):  # noqa: F811
    email = add_user(server, "admin")
    with server.sessions.begin() as session:
        add_project(session, "browser-flan")
    data = tmp_path / "nli.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    sign_in(page, server, email, "/projects/browser-flan/datasets")
    page.goto(f"{server.url}/projects/browser-flan/datasets")
    page.set_input_files("#ds-file", str(data))
    page.fill("#ds-name", "nli")
    page.fill("#ds-task", "nli")
    page.fill("#ds-source", "Flan2021")
    page.click("button:has-text('Import')")
    page.wait_for_url("**/datasets/nli")
    assert page.locator("text=6 records").count() == 1

    page.click("text=Write one")
    page.wait_for_url("**/templates/new?task=nli")
    page.fill("#t-name", "entails")
    page.fill("#t-choices", "no ||| yes")
    page.locator("#t-jinja").press_sequentially("{{ premis }} ||| {{ answer_choices[label] }}", delay=5)
    page.wait_for_selector("#preview [data-code=undefined_field]")
    assert "'premis' is not a field of the dataset's records" in page.inner_text("#preview")
    page.fill("#t-jinja", "")
    page.locator("#t-jinja").press_sequentially("{{ premise }} Does it follow that {{ hypothesis }}", delay=5)
    page.wait_for_selector("#preview [data-code=missing_separator]")
    page.locator("#t-jinja").press_sequentially(" ||| {{ answer_choices[label] }}", delay=5)
    # The preview catches up with the typing: five records rendered, no problem left.
    expect(page.locator("#preview pre.target")).to_have_count(5)
    expect(page.locator("#preview [data-code]")).to_have_count(0)
    assert "A man plays guitar number 1. Does it follow that A man plays music." in page.inner_text("#preview")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/projects/browser-flan/templates")

    page.goto(f"{server.url}/projects/browser-flan/datasets/nli")
    page.uncheck("input[value=fs-opt]")
    page.uncheck("input[value=fs-noopt]")
    page.fill("#r-tok", "whitespace")
    page.click("button:has-text('Render')")
    page.wait_for_selector(".render-job .badge.succeeded", timeout=60_000)
    assert "12 instructions, each with a reference candidate" in page.inner_text(".render-job")
