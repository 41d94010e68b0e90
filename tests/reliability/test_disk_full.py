"""The disk fills during an export: the exports folder is a small tmpfs of the test's own.

The export is asked for over the API and built by the worker's own task (`worker.tasks.exports.run`), in
this process, on the live database. Its files need several times the space the tmpfs has. A user then
reads the export over the API: failed, with a reason that says the disk is full; nothing is published and
nothing is left taking space. After the tmpfs is remounted bigger, the same request succeeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import reset_app_caches, unavailable

SMALL = "512k"
SMALL_BYTES = 512 * 1024
ROOMY = "16m"
# Preference pairs of this many approved instructions take about 3.5 MB as JSON Lines: 7 times SMALL.
N_INSTRUCTIONS = 6_000
BODY = {"format": "preference", "preference_style": "conversational"}


def _mount(target: Path, size: str, *, remount: bool = False) -> None:
    options = f"remount,size={size}" if remount else f"size={size},mode=0755"
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        unavailable("mounting a tmpfs", proc.stderr.strip() or f"mount exited {proc.returncode}")


def used_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


@pytest.fixture
def small_exports_disk(live: str, tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """A data folder whose exports/ is a 512 KiB tmpfs; unmounted after the test whatever happened."""
    exports = tmp_path / "data" / "exports"
    exports.mkdir(parents=True)
    _mount(exports, SMALL)
    monkeypatch.setenv("TUNELOOP_DATA_DIR", str(tmp_path / "data"))
    reset_app_caches()
    try:
        yield exports
    finally:
        reset_app_caches()
        subprocess.run(["umount", "--lazy", str(exports)], check=False)


@pytest.fixture
def admin_and_project(small_exports_disk: Path) -> tuple[dict[str, str], str, int]:
    """A committed admin token and a project of N_INSTRUCTIONS approved instructions (3 ranked candidates)."""
    from app.core.config import get_settings
    from app.core.db import get_sessionmaker
    from app.users.service import create_token, create_user
    from benchmarks.export import bulk_load
    from tests.exports.conftest import add_project

    with get_sessionmaker()() as session:
        admin = create_user(session, email="disk@example.com", password="correct horse battery", role="admin")
        session.flush()
        token = create_token(session, user=admin, name="t").secret
        project = add_project(session, "full-disk")
        session.commit()
        project_id = project.id
    bulk_load(get_settings().database_url, project_id, N_INSTRUCTIONS)
    return {"Authorization": f"Bearer {token}"}, "full-disk", project_id


def _export(client: TestClient, headers: dict[str, str], slug: str) -> dict:
    """Ask for the export as a user would, build it as the worker does, and read it back over the API."""
    from worker.tasks.exports import run

    resp = client.post(f"/api/v1/projects/{slug}/exports", json=BODY, headers=headers)
    assert resp.status_code == 202, resp.text
    export_id = resp.json()["id"]
    run(export_id)
    resp = client.get(f"/api/v1/exports/{export_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_full_disk_fails_the_export_cleanly_and_a_retry_after_making_room_succeeds(
        small_exports_disk: Path, admin_and_project) -> None:
    from app.core.db import get_sessionmaker
    from app.main import create_app
    from app.models import Approval, Export

    headers, slug, project_id = admin_and_project
    folder = small_exports_disk / slug
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        failed = _export(client, headers, slug)
        assert failed["status"] == "failed", failed
        reason = failed["error"]
        assert "disk is full" in reason and "No space left on device" in reason, reason
        assert str(small_exports_disk) in reason, f"the reason names the full folder: {reason}"
        assert "Traceback" not in reason and len(reason) < 500, reason
        assert failed["path"] is None and failed["download_url"] is None and failed["sha256"] is None
        with get_sessionmaker()() as session:
            row = session.get(Export, failed["id"])
            assert row.status.value == "failed" and row.error == reason and row.finished_at is not None
        left = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
        assert left == [], f"neither a snapshot nor a hidden temp folder may stay behind: {left}"
        # Every byte the attempt wrote is handed back (an unlinked file still open would keep its blocks).
        assert used_bytes(small_exports_disk) <= 16 * 1024, used_bytes(small_exports_disk)
        assert client.get(f"/api/v1/exports/{failed['id']}/download", headers=headers).status_code == 409

        _mount(small_exports_disk, ROOMY, remount=True)
        done = _export(client, headers, slug)
    assert done["status"] == "succeeded", done["error"]
    assert done["version"] == failed["version"] + 1 and done["options"] == failed["options"]
    snapshot = Path(done["path"])
    assert snapshot.parent == folder and sorted(p.name for p in folder.iterdir()) == [snapshot.name]
    manifest = json.loads((snapshot / "manifest.json").read_text())
    files = manifest["content"]["files"]
    assert {f["name"] for f in files} == {"train.jsonl", "eval.jsonl", "approval_ids.txt"}
    for entry in files:  # complete: every file listed is there with the size, hash and rows the manifest gives
        data = (snapshot / entry["name"]).read_bytes()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"], entry
        lines = data.splitlines()
        if entry["split"] is not None:
            assert [json.loads(line)["chosen"][0]["role"] for line in lines] == ["assistant"] * entry["rows"]
            assert manifest["content"]["row_counts"][entry["split"]] == entry["rows"], entry
        else:
            assert len(lines) == manifest["content"]["approvals"]["count"], entry
    with get_sessionmaker()() as session:
        approvals = session.query(Approval).filter_by(project_id=project_id).count()
    assert manifest["content"]["approvals"]["count"] == approvals == N_INSTRUCTIONS
    # The first attempt failed for want of space, not for anything else: the snapshot is bigger than SMALL.
    assert sum(f["bytes"] for f in files) > 2 * SMALL_BYTES


def test_the_space_is_handed_back_even_while_the_error_is_still_held(small_exports_disk: Path,
                                                                      admin_and_project) -> None:
    """A caller that keeps the error (a log handler keeping records, an error reporter) keeps its traceback,
    and with it the frames that held the failed files open; the disk must be free all the same."""
    from app.core.db import get_engine
    from app.exports.schemas import ExportCreate
    from app.exports.snapshot import ExportFailed, Spec, build_snapshot

    _headers, slug, project_id = admin_and_project
    spec = Spec(1, project_id, slug, 1, BODY["format"], ExportCreate(**BODY).options())
    with get_engine().connect() as conn, pytest.raises(ExportFailed, match="disk is full") as caught:
        build_snapshot(conn, spec, small_exports_disk, provenance={})
    cause = caught.value.__cause__
    assert isinstance(cause, OSError) and cause.__traceback__ is not None  # still held, frames and all
    assert used_bytes(small_exports_disk) <= 16 * 1024, used_bytes(small_exports_disk)
    assert list((small_exports_disk / slug).iterdir()) == []
