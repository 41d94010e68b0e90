"""In Chromium: an admin creates an export from the form, watches it finish live, previews and downloads it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from tests.browser.conftest import ARTIFACTS, add_user, sign_in
from tests.conftest import ROOT
from tests.exports.conftest import add_project, seed_mixed

pytestmark = pytest.mark.browser


@pytest.fixture
def export_worker(server):
    """A real worker on the server's database, broker and data folder."""
    tmp = server.log.parent
    env = {**os.environ, "TUNELOOP_DATABASE_URL": server.database_url, "TUNELOOP_DATA_DIR": str(tmp / "var"),
           "TUNELOOP_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.db'}", "PYTHONUNBUFFERED": "1"}
    log = tmp / "export-worker.log"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--queues", "default", "--pool", "solo",
                             "--concurrency", "1"], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    yield log
    proc.terminate()
    proc.wait(timeout=20)


def test_admin_exports_from_the_page(server, page, export_worker, tmp_path):
    email = add_user(server, "admin")
    with server.sessions.begin() as session:
        project = add_project(session, "browser-export")
        seed_mixed(session, project, n=12)
    sign_in(page, server, email, "/exports")
    try:
        page.goto(f"{server.url}/exports")
        page.select_option("#x-project", "browser-export")
        page.select_option("#x-format", "sft-messages")
        page.fill("#x-eval", "0.2")
        page.click("button:has-text('Create export')")
        page.wait_for_url("**/exports/*")
        page.wait_for_selector("[data-status=succeeded]", timeout=60_000)
        assert page.locator(".preview-row").count() == 5
        assert page.locator("text=train.jsonl").count() >= 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "exports-detail.png"), full_page=True)
        with page.expect_download() as download:
            page.click("text=Download zip")
        target = tmp_path / "snapshot.zip"
        download.value.save_as(target)
        names = zipfile.ZipFile(target).namelist()
        assert "browser-export-v1-sft-messages/manifest.json" in names
        page.goto(f"{server.url}/exports")
        assert page.locator("#export-list .badge.succeeded").count() == 1
        page.screenshot(path=str(ARTIFACTS / "exports-list.png"), full_page=True)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "exports-failure.png"), full_page=True)
        print(export_worker.read_text()[-3000:])
        raise


def test_run_page_learning_rate_ticks_are_readable(server, page):
    """Issue 10: the chart read 0 for 2e-4 and "0.001" three times for a constant 1e-3."""
    from app.models import Export, ExportStatus, TuningRun
    from app.tuning.service import add_events

    email = add_user(server, "admin")
    runs = {}
    with server.sessions.begin() as session:
        project = add_project(session, "charts")
        export = Export(project_id=project.id, version=1, format="sft-messages", status=ExportStatus.succeeded,
                        path="charts-v1", files=[], row_counts={"train": 8})
        session.add(export)
        session.flush()
        for name, rates in (("decay", [2e-4 * (1 - s / 10) for s in range(10)]), ("flat", [1e-3] * 10)):
            run = TuningRun(project_id=project.id, export_id=export.id, name=name, method="sft-lora",
                            base_model="/m", settings={"eval": {"enabled": True}}, state="succeeded")
            session.add(run)
            session.flush()
            add_events(session, run.id, [("log", {"step": s + 1, "total_steps": 10, "loss": 2.0 - s / 10,
                                                  "learning_rate": rate}) for s, rate in enumerate(rates)])
            runs[name] = run.id
    sign_in(page, server, email, "/runs")
    ticks = {}
    for name, run_id in runs.items():
        page.goto(f"{server.url}/runs/{run_id}")
        # Every point drawn and the y scale fitted to them (both rates are far below 0.1; a scale still at its
        # empty-chart default of 0 to 1 means the rates have not been drawn yet).
        page.wait_for_function("window.tuneloopCharts && window.tuneloopCharts.lr.data[0].length === 10 && "
                               "window.tuneloopCharts.lr.data[1].every(v => v != null) && "
                               "window.tuneloopCharts.lr.scales.y.max < 0.1")
        ticks[name] = page.evaluate("(() => { const u = window.tuneloopCharts.lr; u.redraw(false, true); "
                                    "return u.axes[1]._values; })()")
        # The snapshot has no eval split: the page says evaluation was skipped.
        assert page.locator('[data-testid="eval-skipped"]').count() == 1
    assert "2e-4" in ticks["decay"] and "0" not in ticks["decay"][1:], ticks
    assert "1e-3" in ticks["flat"] and len(set(ticks["flat"])) == len(ticks["flat"]), ticks
    assert all(label == "0" or "e-" in label for label in ticks["decay"] + ticks["flat"]), ticks
