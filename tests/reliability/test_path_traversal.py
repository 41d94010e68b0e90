"""Path traversal on every path-like input: static files, export downloads, run artifacts.

Raw ASGI requests carry the path exactly as written (an HTTP client would normalise `..` away); a canary
file beside the served folders must never come back, whatever the encoding.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from pathlib import Path

import pytest

from tests.reliability.conftest import World

CANARY = "CANARY-d41d8cd98f00b204"
DOT_DOTS = ["..", "%2e%2e", "%2E%2E", ".%2e", "%252e%252e", "..%c0%af..", "...."]
SEPARATORS = ["/", "%2f", "%2F", "%5c", "\\"]


def traversals(target: str, depth: int = 6) -> list[str]:
    """`target` reached by climbing out with every spelling of `..` and of the separator."""
    out = [target if target.startswith("/") else "/" + target, "/" + target.replace("/", "%2f")]
    for dots in DOT_DOTS:
        for sep in SEPARATORS:
            out.append(sep.join([dots] * depth) + sep + target.replace("/", sep))
    return out


def raw_request(app, raw_path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One GET with raw_path untouched by any client-side normalisation."""
    path, _, query = raw_path.partition("?")
    from urllib.parse import unquote

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": unquote(path), "raw_path": path.encode("latin-1", "replace"), "root_path": "",
             "query_string": query.encode("latin-1", "replace"), "server": ("testserver", 80),
             "client": ("127.0.0.1", 5000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "testserver", **headers}.items()]}
    status, body = 0, bytearray()
    sent_request = False

    async def main() -> None:
        done = asyncio.Event()

        async def receive():
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # like a server: the client goes away once the response is complete
            return {"type": "http.disconnect"}

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    done.set()

        await app(scope, receive, send)

    asyncio.run(main())
    return status, bytes(body)


@pytest.fixture
def canary(world: World) -> Path:
    """A secret file in the data folder, next to the exports and runs folders the app serves from."""
    from app.core.config import get_settings

    data_dir = get_settings().data_dir
    path = data_dir / "canary.txt"
    path.write_text(CANARY)
    (data_dir / "exports" / "canary.txt").write_text(CANARY)
    return path


def assert_never_served(app, urls: list[str], headers: dict[str, str]) -> None:
    problems = []
    for url in urls:
        status, body = raw_request(app, url, headers)
        if CANARY.encode() in body or b"class Settings" in body or b"root:x:" in body:
            problems.append(f"{url} served a file outside its folder ({status})")
        elif status >= 500 or status == 200:
            problems.append(f"{url} answered {status}: {body[:120]!r}")
    assert not problems, "\n".join(problems)


def test_static_files_never_leave_their_folder(app, canary):
    assert raw_request(app, "/static/css/app.css", {})[0] == 200  # the same route serves real files
    urls = [f"/static/{t.lstrip('/')}" for t in traversals("app/core/config.py") + traversals("etc/passwd", 12)]
    urls += [f"/static/css/{t.lstrip('/')}" for t in traversals("canary.txt", 8)]
    assert_never_served(app, urls, {})


def test_export_download_names_only_its_own_files(world: World, db, canary, app):
    from app.core.config import get_settings
    from app.models import Export, ExportStatus

    folder = get_settings().data_dir / "exports" / f"{world.project.slug}-v1"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text('{"instruction": "hi"}\n')
    (folder / "manifest.json").write_text("{}")
    export = Export(project_id=world.project.id, version=1, format="sft-alpaca", status=ExportStatus.succeeded,
                    path=str(folder), files=[{"name": "train.jsonl"}])
    db.add(export)
    db.commit()
    headers = world.callers["admin_token"].headers
    base = f"/api/v1/exports/{export.id}/download"
    status, body = raw_request(app, f"{base}?file=train.jsonl", headers)
    assert status == 200 and b"hi" in body
    assert_never_served(app, [f"{base}?file={t.lstrip('/')}" for t in traversals("canary.txt", 2)]
                        + [f"{base}?file={canary}", f"{base}?file=%2Fetc%2Fpasswd"], headers)


def test_run_artifacts_never_leave_the_run_folder(world: World, db, canary, app):
    from app.models import Export, ExportStatus, TuningRun
    from app.tuning.spec import run_dir

    export = Export(project_id=world.project.id, version=2, format="sft-alpaca", status=ExportStatus.succeeded)
    db.add(export)
    db.flush()
    run = TuningRun(project_id=world.project.id, export_id=export.id, method="sft-lora", base_model="tiny")
    db.add(run)
    db.flush()
    # Run ids restart per database while the data folder is shared: start from an empty run folder.
    shutil.rmtree(run_dir(run.id), ignore_errors=True)
    adapter = run_dir(run.id) / "output" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    (adapter / "escape").symlink_to(canary)  # a link planted inside the folder, pointing out of it
    run.artifacts = [{"name": "adapter", "path": str(adapter)},
                     {"name": "sneaky", "path": str(run_dir(run.id) / ".." / ".." / "canary.txt")}]
    db.commit()
    headers = world.callers["admin_token"].headers
    base = f"/api/v1/tuning-runs/{run.id}/artifacts"
    status, body = raw_request(app, f"{base}/adapter?file=adapter_config.json", headers)
    assert status == 200 and b'"r": 8' in body
    urls = [f"{base}/adapter?file={t.lstrip('/')}" for t in traversals("canary.txt", 6)]
    urls += [f"{base}/{t.lstrip('/')}" for t in traversals("canary.txt", 6)]
    urls += [f"{base}/adapter?file=escape", f"{base}/sneaky", f"{base}/adapter?file={canary}"]
    assert_never_served(app, urls, headers)
    # The folder download zips what is inside and leaves the planted link's target out.
    status, body = raw_request(app, f"{base}/adapter", headers)
    assert status == 200 and CANARY.encode() not in body


# ---------------------------------------------------------------- images, uploads and imports

def _outside_image(data_dir: Path) -> tuple[Path, str]:
    """A real PNG beside the image and import folders: storable if anything ever read it."""
    import hashlib

    from tests.images.pictures import png

    data = png(mark="canary")
    path = data_dir / "canary.png"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _never_stored(db, sha: str) -> None:
    from app.images.store import image_path, thumb_path
    from app.models import Image

    assert db.get(Image, sha) is None, "the canary image was stored"
    assert not image_path(sha, "png").exists() and not thumb_path(sha).exists()


def test_image_routes_serve_only_stored_images(world: World, db, canary, app):
    from app.images.service import check_bytes, store_checked
    from app.images.store import images_dir
    from tests.images.pictures import png

    data = png(mark="served")
    sha = store_checked(db, data, check_bytes(data))
    db.commit()
    (images_dir() / "canary.txt").write_text(CANARY)
    (images_dir() / sha[:2] / "canary.txt").write_text(CANARY)
    headers = world.callers["annotator_token"].headers  # annotators see the images of their tasks
    status, body = raw_request(app, f"/images/{sha}", headers)
    assert status == 200 and body == data
    assert raw_request(app, f"/images/{sha}/thumbnail", headers)[0] == 200
    urls = [f"/images/{t.lstrip('/')}" for t in traversals("canary.txt", 6) + traversals(f"{sha[:2]}/canary.txt", 2)]
    urls += [f"{u}/thumbnail" for u in urls]
    # Ids of exactly 64 characters (the length an image id has) that climb out.
    urls += [f"/images/{'..%2f' * 16}", f"/images/{'%2e%2e%2f' * 7}canary.txt" + "x" * 12,
             f"/images/{('../' * 21) + 'c'}", f"/images/{sha[:2]}%2f{sha[:62]}"]
    assert_never_served(app, urls, headers)


def test_image_paths_in_uploads_and_items_never_leave_the_image_root(world: World, db, canary, app):
    from app.images.refs import rest_root
    from tests.images.pictures import png

    root = rest_root()
    root.mkdir(parents=True, exist_ok=True)
    outside, sha = _outside_image(canary.parent)
    (root / "real.png").write_bytes(png(mark="inside the root"))
    (root / "escape.png").unlink(missing_ok=True)
    (root / "escape.png").symlink_to(outside)  # a link planted inside the root, pointing out of it
    caller = world.callers["admin_token"]
    assert caller.request("POST", "/api/v1/images", json={"path": "real.png"}).status_code == 201
    attempts = [t.lstrip("/") for t in traversals("canary.png", 1) + traversals("canary.png", 6)]
    attempts += [str(outside), str(root / ".." / "canary.png"), "escape.png", "./escape.png", "x/../../canary.png",
                 "..", "../", "C:\\canary.png", "\x00../canary.png", "real.png/../../canary.png"]
    problems = []
    for path in attempts:
        upload = caller.request("POST", "/api/v1/images", json={"path": path})
        item = caller.request("POST", f"/api/v1/projects/{world.project.slug}/instructions",
                              json={"items": [{"instruction": "<image>\nWhat is it?", "images": [{"path": path}]}]})
        for route, resp in (("upload", upload), ("item", item)):
            if resp.status_code != 422:
                problems.append(f"{route} with path {path!r} answered {resp.status_code}: {resp.text[:120]}")
    assert not problems, "\n".join(problems)
    _never_stored(db, sha)


def test_import_image_folders_never_leave_their_folder(world: World, db, canary, tmp_path):
    """LLaVA's `image` paths resolve against the import file's folder, or the --image-root given."""
    from app.imports.files import ImportFailed
    from app.imports.service import import_file

    outside, sha = _outside_image(canary.parent)
    folder = canary.parent / "imports" / "llava-traversal"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "escape.png").unlink(missing_ok=True)
    (folder / "escape.png").symlink_to(outside)
    attempts = [t.lstrip("/") for t in traversals("canary.png", 3)]
    attempts += [str(outside), "escape.png", "sub/../../../canary.png", "..\\..\\..\\canary.png"]
    accepted = []
    for n, path in enumerate(attempts):
        data = folder / f"rows-{n}.json"
        data.write_text(json.dumps([{"id": f"t{n}", "image": path, "conversations": [
            {"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A canary."}]}]))
        for root in (None, folder):
            try:
                with db.begin_nested():
                    import_file(db, project=world.project, path=data, fmt="llava", image_root=root)
                accepted.append((path, root))
            except ImportFailed:
                pass
    assert accepted == [], f"imported with an image outside its folder: {accepted}"
    _never_stored(db, sha)


def test_llava_zip_members_unpack_inside_their_folder(canary, tmp_path):
    import zipfile

    from app.core.errors import ValidationFailed
    from app.images.archives import unpack

    names = ["../canary.txt", "../../canary.txt", "a/../../canary.txt", "/tmp/canary-abs.txt", "..\\canary.txt",
             "C:/canary.txt", "C:canary.txt", "a//../canary.txt", "./../canary.txt", "%2e%2e/canary.txt",
             "..%2fcanary.txt", "....//canary.txt", "\u2025/canary.txt"]
    base = canary.parent / "imports" / "uploads"
    base.mkdir(parents=True, exist_ok=True)
    before = {p for p in canary.parent.rglob("*")}
    unpacked = []
    for n, name in enumerate(names):
        archive = tmp_path / f"a{n}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("data.json", "[]")
            zf.writestr(name, "OVERWRITTEN")
        target = base / f"{secrets.token_hex(4)}-files"
        try:
            unpack(archive, target)
            unpacked.append(target)
        except ValidationFailed:
            assert not target.exists(), f"{name!r}: a refused archive left {target}"
    assert canary.read_text() == CANARY
    # Whatever was unpacked lies inside its own folder; nothing new appeared anywhere else in the data folder.
    inside = {p for t in unpacked for p in [t, *t.rglob("*")]}
    new = {p for p in canary.parent.rglob("*")} - before - inside
    assert new == set(), f"files written outside the unpack folders: {sorted(new)}"
    assert not Path("/tmp/canary-abs.txt").exists()
    for target in unpacked:
        shutil.rmtree(target)


def test_document_and_import_upload_names_never_leave_their_folder(world: World, db, canary):
    """The staged copy of a document, and an admin import's saved file, are named by the upload's name."""
    from sqlalchemy import select

    from app.admin.imports_service import imports_root
    from app.documents.uploads import staging_dir
    from app.models import ImportJob

    data_dir = canary.parent
    names = [t.lstrip("/") for t in traversals("canary.txt", 2) + traversals("canary.txt", 8)]
    names += [str(canary), "..", "../", "..\\..\\canary.txt", "\x00canary.txt", "a/../../canary.txt"]
    before = {p for p in data_dir.rglob("*") if p.is_file()}
    caller = world.callers["admin_session"]
    problems = []
    for n, name in enumerate(names):
        resp = caller.request("POST", f"/projects/{world.project.slug}/documents",
                              files=[("files", (name, f"OVERWRITTEN {n}".encode(), "text/plain"))])
        if resp.status_code >= 500:
            problems.append(f"document {name!r} answered {resp.status_code}")
        resp = caller.request("POST", "/admin/imports", data={"project": world.project.slug, "format": "auto"},
                              files=[("file", (name, b'{"instruction": "hi"}\n', "application/jsonl"))])
        if resp.status_code >= 500:
            problems.append(f"import {name!r} answered {resp.status_code}")
    for job in db.scalars(select(ImportJob).where(ImportJob.project_id == world.project.id)):
        saved = Path(job.path)
        if saved.parent != imports_root() / "uploads":
            problems.append(f"import {job.source_name!r} saved as {saved}")
        saved.unlink(missing_ok=True)
    assert not problems, "\n".join(problems)
    assert canary.read_text() == CANARY
    assert list(staging_dir().iterdir()) == [], "a staged document was left behind"
    # (The SQLite broker's file appears when a stored document queues its embedding.)
    after = {p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith("broker.db")}
    assert after - before == set(), f"uploads wrote files: {sorted(after - before)}"
