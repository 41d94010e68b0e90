"""Path traversal on every path-like input: static files, export downloads, run artifacts.

Raw ASGI requests carry the path exactly as written (an HTTP client would normalise `..` away); a canary
file beside the served folders must never come back, whatever the encoding.
"""

from __future__ import annotations

import asyncio
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
