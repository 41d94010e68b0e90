"""`tuneloop export`: queue from the shell, clear errors, and --wait against a real worker."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "export", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_export_command_queues_and_reports_errors(live_admin):
    from app.core.db import get_sessionmaker
    from app.models import Export, ExportStatus
    from worker.tasks.exports import run

    done = _cli("--project", "live-proj", "--format", "sharegpt", "--eval-fraction", "0.5", "--meta", "lang=en")
    assert done.returncode == 0, done.stderr
    export_id = int(re.search(r"export (\d+) queued", done.stdout).group(1))
    with get_sessionmaker()() as session:
        export = session.get(Export, export_id)
        assert export.options["eval_fraction"] == 0.5 and export.options["filters"] == {"metadata": {"lang": "en"}}
        assert export.created_by_id is not None
    run(export_id)
    with get_sessionmaker()() as session:
        assert session.get(Export, export_id).status == ExportStatus.succeeded
    for args, message in [(("--project", "nope", "--format", "kto"), "no project 'nope'"),
                          (("--project", "live-proj", "--format", "csv"), "format"),
                          (("--project", "live-proj", "--format", "kto", "--meta", "oops"), "KEY=VALUE"),
                          (("--project", "live-proj", "--format", "kto", "--source", "zz"), "No approved")]:
        failed = _cli(*args)
        assert failed.returncode == 1 and message in failed.stderr, (args, failed.stderr)


def test_export_command_waits_for_the_worker(start_worker, live_admin):
    start_worker(queues="default")
    done = _cli("--project", "live-proj", "--format", "preference", "--file-format", "parquet", "--wait")
    assert done.returncode == 0, done.stderr + done.stdout
    assert re.search(r"export \d+ succeeded: .*v1-preference\nsha256 [0-9a-f]{64}", done.stdout), done.stdout
