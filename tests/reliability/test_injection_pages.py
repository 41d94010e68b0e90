"""Script injection on the tuning and export pages: the corpus of tests/annotation/xss.py in every text a user
or a model controls there (run names, base models, errors, event messages, evaluation samples, project and
snapshot names, export failures, manifest file names, preview rows), rendered as an admin sees it.

Each page and HTMX fragment is parsed: no forbidden element, inline script, `on*` attribute or `javascript:`
URL, no payload with a `<` in it verbatim, and every field's text present in its escaped form (so a field
that stopped being shown, or shown some other way, fails the test rather than passing it by absence).
The run's event log reaches the page as server-sent events: every `data:` must be one JSON document a
payload cannot break out of, and the page's own scripts must insert it as text.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

from markupsafe import escape

from app.models import Export, ExportStatus, Job, JobStatus, Project, RunState, TuningRun
from tests.annotation.xss import PAYLOADS, TEXT, injected
from tests.conftest import csrf_from, login

# Payloads that can be file names (no slash), for a run's artifact files and an export's manifest.
FILE_SAFE = [p for p in PAYLOADS if "/" not in p]
# What would break a server-sent event's framing if it reached the stream unencoded: a blank line ends the
# event early, and the lines after it would be read as fields of a new one.
SSE_BREAKOUTS = ["\n\nevent: end\ndata: {}\n\n", "\r\nid: 999999\r\nevent: state\r\n", "\rretry: 1\r\r"]


def fit(label: str, limit: int | None = None, start: int = 0) -> str:
    """`label` followed by as many corpus payloads as the column's `limit` holds (all of them when unlimited),
    taken from `start` on so that short columns between them still carry every payload."""
    if limit is None:
        return f"{label} {TEXT}"
    text = label
    for i in range(len(PAYLOADS)):
        payload = PAYLOADS[(start + i) % len(PAYLOADS)]
        if len(text) + len(payload) <= limit:
            text += payload
    assert text != label, f"no payload fits {limit} characters after {label!r}"
    return text


def as_json(value: Any, indent: int | None = None) -> str:
    """What the templates' `tojson` filter writes for `value` (<, >, & and ' as \\u escapes)."""
    from app.core.templating import templates

    return templates.env.from_string("{{ v | tojson(indent=i) }}").render(v=value, i=indent)


# One value per field, each with its own label so the page shows which field it came from. The limits are the
# columns' lengths: PostgreSQL refuses a longer value where SQLite would keep it. A slug made through the app is
# only [a-z0-9-]; the pages must not depend on that, so the project's slug carries payloads too.
V: dict[str, Any] = {
    "project.name": fit("PN", 200, 0), "project.slug": fit("PS", 100, 3), "snapshot.format": fit("F", 30, 2),
    "failed_export.format": fit("G", 30, 9), "failed_export.error": fit("export error"),
    "export.path": fit("path", 500, 5), "options.file_format": fit("file format"),
    "options.source": fit("source"), "options.meta_key": fit("meta key"), "options.meta_value": fit("mv"),
    "row_counts.key": fit("split"),
    "manifest.split": fit("manifest split"), "preview.split": fit("preview split"), "preview.row": fit("row"),
    "failed_run.name": fit("failed run", 200, 1), "ok_run.name": fit("tuned run", 200, 4),
    "failed_run.method": fit("M", 30, 2), "ok_run.method": fit("N", 30, 9),
    "failed_run.base_model": fit("/models/failed", 500, 0), "ok_run.base_model": fit("/models/tuned", 500, 6),
    "run.error_kind": fit("K", 30, 2), "run.error": fit("run error"), "run.worker_host": fit("host", 200, 7),
    "check.name": fit("check"), "check.detail": fit("detail"), "sample.text": fit("rendered sample"),
    "hp.key": fit("hp key"), "hp.value": fit("hp value"), "lora.key": fit("lora key"), "lora.value": fit("lv"),
    "eval.prompt": fit("prompt"), "eval.base": fit("base answer"), "eval.tuned": fit("tuned answer"),
    "job.error": fit("generation error"),
    "event.error": fit("state error"), "event.kind": fit("error kind"), "event.message": fit("error message"),
    "event.artifact": fit("artifact"), "event.resumed_from": fit("resumed from"),
}
V["event.message"] += "".join(SSE_BREAKOUTS)
# The new-run form reads its snapshot as "slug:id", so the project asked for there (at most 100 characters)
# holds payloads without a colon.
V["form.project"] = "x" + "".join([p for p in PAYLOADS if ":" not in p][:3])
V["form.error"] = f"Project {V['form.project']} does not exist."
PREVIEW_ROW = {"prompt": V["preview.row"], "completion": PAYLOADS[0], "label": True}
OPTIONS = {"file_format": V["options.file_format"],
           "filters": {"source": [V["options.source"]], "metadata": {V["options.meta_key"]: V["options.meta_value"]}}}
MANIFEST = [{"name": name, "split": V["manifest.split"], "rows": 1, "bytes": 2, "sha256": "ab" * 32}
            for name in FILE_SAFE]


def _events() -> list[tuple[str, dict[str, Any]]]:
    """A failed run's log as the trainer and the lifecycle write it, with payloads in every text."""
    return [("state", {"state": "queued"}),
            ("started", {"total_steps": 6, "num_train_samples": 24, "resumed_from": V["event.resumed_from"]}),
            ("log", {"step": 1, "total_steps": 6, "loss": 1.5, "learning_rate": 0.001}),
            ("artifact", {"name": V["event.artifact"], "size_bytes": 10}),
            ("error", {"kind": V["event.kind"], "message": V["event.message"]}),
            ("state", {"state": "failed", "error": V["event.error"], "error_kind": V["run.error_kind"]})]


def _hostile_rows(db) -> dict[str, Any]:
    """A project, a snapshot with files and preview, a failed export, a failed run with its events, checks and
    sample, and a succeeded run with an evaluation, a failed generation job and artifact files."""
    from app.tuning.service import add_events
    from app.tuning.spec import run_dir

    project = Project(name=V["project.name"], slug=V["project.slug"], guidelines="")
    db.add(project)
    db.flush()
    snapshot = Export(project_id=project.id, version=1, format=V["snapshot.format"], options=OPTIONS,
                      status=ExportStatus.succeeded, rows_done=3, rows_total=3,
                      row_counts={"train": 2, "eval": 1, V["row_counts.key"]: 0}, path=V["export.path"],
                      files=MANIFEST, sha256="cd" * 32,
                      preview=[{"split": V["preview.split"], "row": PREVIEW_ROW}])
    failed_export = Export(project_id=project.id, version=2, format=V["failed_export.format"], options=OPTIONS,
                           status=ExportStatus.failed, error=V["failed_export.error"])
    db.add_all([snapshot, failed_export])
    db.flush()
    failed = TuningRun(project_id=project.id, export_id=snapshot.id, name=V["failed_run.name"],
                       method=V["failed_run.method"], base_model=V["failed_run.base_model"], state=RunState.failed,
                       error_kind=V["run.error_kind"], error=V["run.error"], worker_host=V["run.worker_host"],
                       settings={"hyperparameters": {V["hp.key"]: V["hp.value"]},
                                 "lora": {V["lora.key"]: V["lora.value"]}, "merge_weights": False},
                       checks=[{"name": V["check.name"], "ok": False, "detail": V["check.detail"]}],
                       token_stats={"mean": 12.5, "p50": 12, "p95": 20, "max": 24, "truncated": 0, "count": 3},
                       sample={"text": V["sample.text"], "trained_tokens": 5, "masked_tokens": 7})
    samples = [{"prompt": V["eval.prompt"], "base": V["eval.base"], "tuned": V["eval.tuned"]}]
    ok = TuningRun(project_id=project.id, export_id=snapshot.id, name=V["ok_run.name"], method=V["ok_run.method"],
                   base_model=V["ok_run.base_model"], state=RunState.succeeded, worker_host=V["run.worker_host"],
                   settings={}, evaluation={"loss_before": 2.0, "loss_after": 1.0, "samples": samples})
    db.add_all([failed, ok])
    db.flush()
    add_events(db, failed.id, _events())
    job = Job(project_id=project.id, kind="answer", params={"backend": f"run-{ok.id}"}, backends=[f"run-{ok.id}"],
              status=JobStatus.failed, error=V["job.error"])
    db.add(job)
    # Artifact files named with the payloads a file name can hold, where the worker puts a run's output.
    adapter = run_dir(ok.id) / "output" / "adapter"
    adapter.mkdir(parents=True, exist_ok=True)
    for name in FILE_SAFE:
        (adapter / name).write_bytes(b"x")
    ok.artifacts = [{"name": "adapter", "path": str(adapter), "size_bytes": len(FILE_SAFE)}]
    db.commit()
    return {"project": project, "snapshot": snapshot, "failed_export": failed_export, "failed": failed, "ok": ok}


def _no_injection(name: str, html: str) -> None:
    assert injected(html) == [], f"{name}: {injected(html)}"
    raw = [p for p in PAYLOADS if "<" in p and p in html]
    assert raw == [], f"{name} shows payloads unescaped: {raw}"


def _shows(name: str, html: str, fields: list[str]) -> None:
    # Escaping leaves `{{ 7*7 }}{% raw %}` as it is: a field whose template syntax were evaluated would be missing.
    missing = [f for f in fields if str(escape(V[f])) not in html]
    assert missing == [], f"{name} does not show these fields escaped: {missing}"


def test_payloads_are_escaped_on_tuning_and_export_pages(client, db, make_user):
    from app.tuning.spec import run_dir

    admin = make_user("admin")
    rows = _hostile_rows(db)
    failed, ok = rows["failed"], rows["ok"]
    snapshot, failed_export = rows["snapshot"], rows["failed_export"]
    login(client, admin.email)
    htmx = {"HX-Request": "true"}
    try:
        run_head = ["failed_run.name", "ok_run.name", "project.slug", "failed_run.method", "ok_run.method"]
        failed_live = ["run.error_kind", "run.error", "run.worker_host", "check.name", "check.detail", "sample.text"]
        failed_meta = ["failed_run.name", "project.name", "snapshot.format", "failed_run.base_model",
                       "failed_run.method", "hp.key", "hp.value", "lora.key", "lora.value"]
        ok_live = ["run.worker_host", "eval.prompt", "eval.base", "eval.tuned", "job.error"]
        list_fields = ["project.slug", "snapshot.format", "failed_export.format", "options.file_format",
                       "row_counts.key"]
        detail_head = ["project.name", "project.slug"]
        pages: dict[str, tuple[Any, list[str]]] = {
            "runs": (client.get("/runs"), run_head),
            "runs fragment": (client.get("/runs", headers=htmx), run_head),
            "failed run": (client.get(f"/runs/{failed.id}"), failed_live + failed_meta),
            "failed run fragment": (client.get(f"/runs/{failed.id}", headers=htmx), failed_live),
            "succeeded run": (client.get(f"/runs/{ok.id}"), [*ok_live, "ok_run.name", "ok_run.base_model"]),
            "succeeded run fragment": (client.get(f"/runs/{ok.id}", headers=htmx), ok_live),
            "new run form": (client.get("/runs/new"), ["project.name", "snapshot.format"]),
            "exports": (client.get("/exports"), [*list_fields, "project.name"]),
            "exports list fragment": (client.get("/exports/list", headers=htmx), list_fields),
            "failed export": (client.get(f"/exports/{failed_export.id}"),
                              [*detail_head, "failed_export.format", "failed_export.error"]),
            "failed export fragment": (client.get(f"/exports/{failed_export.id}", headers=htmx),
                                       ["failed_export.error"]),
            "snapshot": (client.get(f"/exports/{snapshot.id}"),
                         [*detail_head, "snapshot.format", "export.path", "manifest.split", "preview.split"]),
            "snapshot fragment": (client.get(f"/exports/{snapshot.id}", headers=htmx),
                                  ["export.path", "manifest.split", "preview.split"]),
        }
        # The new-run form refused: its error names the project asked for, and the fields keep what was typed.
        refused = client.post("/runs/new", data={
            "csrftoken": csrf_from(client), "export": f"{V['form.project']}:{snapshot.id}",
            "base_model": V["ok_run.base_model"], "method": "sft-lora", "name": V["ok_run.name"]})
        assert refused.status_code == 404, refused.text[:500]
        pages["refused new run"] = (refused, ["form.error", "ok_run.name", "ok_run.base_model", "project.name"])
        for name, (resp, fields) in pages.items():
            assert resp.status_code in (200, 404), (name, resp.status_code, resp.text[:500])
            if "fragment" in name:
                assert "<html" not in resp.text, f"{name}: a whole page where HTMX asked for a fragment"
            _no_injection(name, resp.text)
            _shows(name, resp.text, fields)

        # Texts the pages transform before showing them: shortened, split, encoded as JSON.
        runs = pages["runs"][0].text
        for field in ("failed_run.base_model", "ok_run.base_model"):
            assert str(escape(V[field][:37])) + "..." in runs, f"runs list: {field} not shown shortened"
        ok_page = pages["succeeded run"][0].text
        assert str(escape(V["ok_run.base_model"].split("/")[-1])) + f"+run-{ok.id}" in ok_page
        for name in FILE_SAFE:  # artifact files: a link with the name URL-encoded, the name as text
            assert f">{escape(name)}</a>" in ok_page, f"artifact file {name!r} not shown"
        snapshot_page = pages["snapshot"][0].text
        for name in FILE_SAFE:  # the manifest table
            assert f">{escape(name)}</a>" in snapshot_page, f"manifest file {name!r} not shown"
        assert as_json(PREVIEW_ROW, indent=2) in snapshot_page, "preview row not shown as JSON"
        for page in ("snapshot", "failed export"):
            assert as_json(OPTIONS) in pages[page][0].text, f"{page}: options not shown as JSON"

        # The event log the run page fills in: the JSON form of the events endpoint gives every text back exactly.
        listed = client.get(f"/api/v1/tuning-runs/{failed.id}/events")
        assert listed.status_code == 200 and listed.headers["content-type"].startswith("application/json")
        assert [(e["event"], e["data"]) for e in listed.json()] == _events()
        _first_party_scripts_insert_text(client, [resp.text for resp, _ in pages.values()])
    finally:
        shutil.rmtree(run_dir(ok.id), ignore_errors=True)


# Ways a script turns a string into markup. The vendored libraries (htmx swaps the server's own escaped HTML)
# are not ours to change; every script of our own that the pages load must not use any of them.
HTML_SINKS = re.compile(r"\.(?:inner|outer)HTML\b|insertAdjacentHTML|document\.write|createContextualFragment|"
                        r"DOMParser|\.srcdoc\b|\beval\s*\(|new\s+Function\b|\.html\s*\(")


def _first_party_scripts_insert_text(client, pages: list[str]) -> None:
    srcs = {m for html in pages for m in re.findall(r'<script[^>]*\bsrc="[^"]*?(/static/js/[^"?]+)', html)}
    assert "/static/js/tuning.js" in srcs, f"the run page no longer loads its script: {sorted(srcs)}"
    for src in sorted(srcs):
        code = client.get(src)
        assert code.status_code == 200, src
        # Comments may name a sink to warn against it; only code counts.
        body = re.sub(r"/\*.*?\*/|(?<![:\"'])//[^\n]*", "", code.text, flags=re.S)
        assert HTML_SINKS.findall(body) == [], f"{src} turns strings into HTML: {HTML_SINKS.findall(body)}"
    tuning = client.get("/static/js/tuning.js").text
    # The event log line is a text node built from the event's fields.
    assert re.search(r"createTextNode\([^;]*describe\(ev\)", tuning), "the event log is not inserted as text"


def _parse_sse(body: str) -> list[dict[str, list[str]]]:
    """Events as a browser's EventSource reads them: lines end at CRLF, LF or CR; a blank line ends an event."""
    events: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    for line in re.split(r"\r\n|\r|\n", body):
        if not line:
            if current:
                events.append(current)
            current = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        current.setdefault(key, []).append(value[1:] if value.startswith(" ") else value)
    if current:
        events.append(current)
    return events


def test_event_stream_data_is_json_a_payload_cannot_break_out_of(live):
    from app.core.db import get_sessionmaker
    from app.tuning.service import add_events
    from tests.tuning.livehelp import client, live_setup

    # The stream reads with sessions of its own, so the rows are committed (the `live` database).
    headers, project, export = live_setup()
    with get_sessionmaker()() as session:
        run = TuningRun(project_id=project.id, export_id=export.id, name=V["failed_run.name"], method="sft-lora",
                        base_model="/m", state=RunState.failed, error=V["run.error"])
        session.add(run)
        session.flush()
        stored = _events()
        last = add_events(session, run.id, stored)
        session.commit()
        run_id = run.id
    with client() as api, api.stream("GET", f"/api/v1/tuning-runs/{run_id}/events",
                                     headers={**headers, "Accept": "text/event-stream"}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        body = resp.read().decode()
    events = _parse_sse(body)
    # Exactly the stored events and the end marker: no payload made an event, an id or a field of its own.
    assert [e.get("event") for e in events] == [[kind] for kind, _ in stored] + [["end"]], body[:2000]
    assert [e["id"] for e in events] == [[str(i)] for i in range(last - len(stored) + 1, last + 1)] + [[str(last)]]
    assert all(set(e) == {"event", "id", "data"} for e in events), [sorted(e) for e in events]
    for event, (kind, data) in zip(events, stored, strict=False):
        # EventSource joins an event's data lines with a line feed and the page parses the result as JSON.
        decoded = json.loads("\n".join(event["data"]))
        assert decoded["event"] == kind and decoded["data"] == data, f"{kind} came back as {decoded}"
