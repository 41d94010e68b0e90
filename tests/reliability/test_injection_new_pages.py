"""Script injection on the pages added since test_injection_pages.py: jobs, backends, Flan datasets and templates,
documents, evaluation, curation, the Self-Instruct report, and images with LLaVA conversations.

The corpus of tests/annotation/xss.py goes into every text a user, an uploaded file or a model controls there, and
each page and HTMX fragment is checked as test_injection_pages.py checks its own: no forbidden element, inline
script, `on*` attribute or `javascript:` URL, no payload with a `<` verbatim, and every field present in its escaped
form (a field no longer shown fails the test rather than passing it by absence). Texts a page transforms (shortened,
`tojson`, `pretty_json`, underscores replaced) are expected as the app's own Jinja environment writes them.

Rows are made through the product's services or routes where they accept the text (uploads, templates, evaluation
sets, comparisons); where a service would refuse it (slugs, backend names) or where only a worker writes it (job
items, events, results), the row is written as the code that owns it writes it: the pages must not depend on the
validation in front of them.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import pytest
from markupsafe import escape

from tests.annotation.xss import PAYLOADS, TEXT, injected, template_handlers
from tests.conftest import ROOT, csrf_from, login
from tests.reliability.conftest import quick_user
from tests.reliability.test_injection_pages import FILE_SAFE, HTML_SINKS, as_json, fit

HTMX = {"HX-Request": "true"}
# File names as a browser sends them in a multipart upload: a double quote arrives as %22.
UPLOAD_NAMES = [p.replace('"', "%22") for p in FILE_SAFE]
Pages = dict[str, tuple[Any, list[str]]]


def jinja(source: str, **values: Any) -> str:
    """`source` rendered by the templates' own environment (autoescaping, the app's filters)."""
    from app.core.templating import templates

    return templates.env.from_string(source).render(**values)


# Inline handlers the templates write as constants (admin and review pages still have a few); any other is injected.
HANDLERS = template_handlers(ROOT / "templates")


def no_injection(name: str, html: str) -> None:
    """As test_injection_pages.py checks, with the app's own <img src="/images/<sha256>"> and the templates' own
    constant handlers allowed."""
    problems = injected(html, own_images=True, handlers=HANDLERS)
    assert problems == [], f"{name}: {problems}"
    raw = [p for p in PAYLOADS if "<" in p and p in html]
    assert raw == [], f"{name} shows payloads unescaped: {raw}"


DATA_BLOCK = re.compile(r'<script type="application/json"[^>]*>(.*?)</script>', re.S)


def without_data_blocks(name: str, html: str) -> str:
    """The page less its JSON data blocks (charts read them), each checked inert first: one JSON document with
    no `<` in it, so nothing inside can close the element (a break-out would end the match early and not parse)."""
    for block in DATA_BLOCK.findall(html):
        assert "<" not in block, f"{name}: a data block with markup in it: {block[:300]}"
        json.loads(block)
    return DATA_BLOCK.sub("", html)


def check(pages: Pages, values: dict[str, str], *, expect: tuple[int, ...] = (200,)) -> None:
    """Every page parses clean and shows each of its fields escaped."""
    for name, (resp, fields) in pages.items():
        assert resp.status_code in expect, (name, resp.status_code, resp.text[:800])
        if "fragment" in name:
            assert "<html" not in resp.text, f"{name}: a whole page where HTMX asked for a fragment"
        no_injection(name, without_data_blocks(name, resp.text))
        missing = [f for f in fields if str(escape(values[f])) not in resp.text]
        assert missing == [], f"{name} does not show these fields escaped: {missing}"


def shows(name: str, html: str, *texts: str) -> None:
    """Texts already in their rendered (escaped or encoded) form."""
    missing = [t for t in texts if t not in html]
    assert missing == [], f"{name} does not show {missing}"


@pytest.fixture
def admin(client, db):
    user = quick_user(db, "admin")
    db.commit()
    login(client, user.email)
    return user


def _project(db, name: str, slug: str | None = None):
    from app.models import Project

    project = Project(name=name, slug=slug or f"inj-{secrets.token_hex(4)}", guidelines="")
    db.add(project)
    db.flush()
    return project


# ---------------------------------------------------------------- jobs

J: dict[str, str] = {
    "project.name": fit("job project", 200, 0), "project.slug": fit("PS", 100, 3),
    "params.key": fit("param key"), "params.value": fit("param value"), "job.error": fit("job error"),
    "reason": fit("R", 40, 1), "stage": fit("S", 30, 2), "item.error": fit("item error"),
    "item.text": fit("item text"), "item.verdict": fit("verdict"), "response": fit("raw answer"),
    "result.key": fit("result key"), "result.value": fit("result value"), "result.model": fit("answer model"),
    "result.construction": fit("construction"), "asked": fit("asked"),
    "event.kind": fit("E", 30, 4), "event.message": fit("event message"),
    "backend.name": fit("b", 100, 5), "backend.model": fit("backend model", 500, 6),
    "run.name": fit("tuned run", 200, 7), "run.base_model": fit("/models/base", 500, 8),
    "unknown.project": "x" + "".join(PAYLOADS[:3]), "form.q": fit("q"), "form.source": fit("source"),
    "form.stop": fit("stop"), "form.metadata": fit("metadata"),
}


def _job_rows(db) -> dict[str, Any]:
    """A failed quality-filter job (no result panel of its own) with rejected, failed and done items, events and
    a stored raw answer; a succeeded answer job; a running job (the list polls); a backend and a tuned run for
    the new-job form's backend choices."""
    from app.jobs.context import add_event
    from app.models import (
        Backend,
        Export,
        ExportStatus,
        ItemStatus,
        Job,
        JobItem,
        JobStatus,
        RunState,
        StoredResponse,
        TuningRun,
    )
    from app.models.base import utcnow

    project = _project(db, J["project.name"], J["project.slug"])
    failed = Job(project_id=project.id, kind="quality-filter", status=JobStatus.failed, error=J["job.error"],
                 params={J["params.key"]: J["params.value"], "filter": {"q": J["params.value"]}},
                 reasons={J["reason"]: 1}, items_total=3, items_done=1, items_rejected=1, items_failed=1,
                 result={J["result.key"]: J["result.value"], "nested": {"text": J["result.value"]}})
    answered = Job(project_id=project.id, kind="answer", status=JobStatus.succeeded, params={"backend": "x"},
                   result={"candidates_added": 1, "instructions_answered": 1, "model": J["result.model"],
                           "construction": J["result.construction"]})
    running = Job(project_id=project.id, kind="answer", status=JobStatus.running, heartbeat_at=utcnow(),
                  params={"backend": "x"})
    db.add_all([failed, answered, running])
    db.flush()
    digest = secrets.token_hex(32)
    db.add(StoredResponse(request_hash=digest, backend="b", model="m", response={"text": J["response"]}))
    items = [JobItem(job_id=failed.id, stage=J["stage"], status=ItemStatus.rejected, reason=J["reason"],
                     input={"text": J["item.text"]}, output={"verdict": J["item.verdict"]}),
             JobItem(job_id=failed.id, stage="rule", status=ItemStatus.failed, error=J["item.error"],
                     input={"text": J["item.text"]}),
             JobItem(job_id=failed.id, stage="rule", status=ItemStatus.done, request_hash=digest,
                     input={"text": J["item.text"]}, output={"verdict": J["item.verdict"]}),
             JobItem(job_id=answered.id, stage="prompt", status=ItemStatus.done,
                     input={"messages": [{"role": "user", "content": J["asked"]}]}, output={"added": 1})]
    db.add_all(items)
    add_event(db, failed.id, J["event.kind"], J["event.message"])
    add_event(db, failed.id, "failed", J["job.error"])
    db.add(Backend(name=J["backend.name"], kind="openai", base_url="http://127.0.0.1:9/v1", model=J["backend.model"],
                   limits={}, last_test={}))
    export = Export(project_id=project.id, version=1, format="sft-alpaca", status=ExportStatus.succeeded)
    db.add(export)
    db.flush()
    db.add(TuningRun(project_id=project.id, export_id=export.id, name=J["run.name"], method="sft-lora",
                     base_model=J["run.base_model"], state=RunState.succeeded, settings={}))
    db.commit()
    return {"project": project, "failed": failed, "answered": answered, "items": items}


def test_job_pages(client, db, admin):
    rows = _job_rows(db)
    failed, answered, items = rows["failed"], rows["answered"], rows["items"]
    slug = rows["project"].slug
    status_fields = ["job.error", "reason", "result.value"]
    item_fields = ["stage", "reason", "item.error"]
    pages: Pages = {
        "jobs": (client.get("/jobs"), ["project.name", "project.slug"]),
        "jobs fragment": (client.get("/jobs", headers=HTMX), ["project.name"]),
        "jobs filtered": (client.get("/jobs", params={"project": slug, "kind": "quality-filter"}),
                          ["project.name"]),
        "failed job": (client.get(f"/jobs/{failed.id}"),
                       [*status_fields, "project.name", "params.key", "event.kind", "event.message"]),
        "failed job fragment": (client.get(f"/jobs/{failed.id}", headers=HTMX), status_fields),
        "answer job": (client.get(f"/jobs/{answered.id}"), ["result.model", "result.construction"]),
        "items fragment": (client.get(f"/jobs/{failed.id}/items", headers=HTMX), item_fields),
        "rejected items fragment": (client.get(f"/jobs/{failed.id}/items", headers=HTMX, params={
            "status": "rejected", "reason": J["reason"], "stage": J["stage"]}), ["stage", "reason"]),
        "answer items fragment": (client.get(f"/jobs/{answered.id}/items", headers=HTMX), []),
        "rejected item fragment": (client.get(f"/jobs/{failed.id}/items/{items[0].id}", headers=HTMX), []),
        "failed item fragment": (client.get(f"/jobs/{failed.id}/items/{items[1].id}", headers=HTMX),
                                 ["item.error"]),
        "done item fragment": (client.get(f"/jobs/{failed.id}/items/{items[2].id}", headers=HTMX), []),
        # Links from other pages fill the form from the query string.
        "new job form": (client.get("/jobs/new", params={
            "project": J["project.slug"], "kind": "answer", "filter.q": J["form.q"], "filter.source": J["form.source"],
            "stop": J["form.stop"], "filter.metadata": J["form.metadata"]}),
            ["project.name", "form.q", "form.source", "form.stop", "form.metadata"]),
        "new job form fragment": (client.get("/jobs/new", headers=HTMX,
                                             params={"kind": "answer", "filter.q": J["form.q"]}), ["form.q"]),
    }
    csrf = csrf_from(client)
    form = {"csrftoken": csrf, "project": slug, "kind": "answer", "backend": J["backend.name"],
            "filter.q": J["form.q"], "filter.source": J["form.source"], "stop": J["form.stop"],
            "filter.metadata": J["form.metadata"], "n": J["form.q"][:20]}
    refused: Pages = {
        "refused new job": (client.post("/jobs", data=form), ["form.q", "form.source", "form.stop", "form.metadata"]),
        # Valid parameters, so that the project is looked up: the error names the project asked for.
        "refused unknown project": (client.post("/jobs", data={
            "csrftoken": csrf, "project": J["unknown.project"], "kind": "answer", "backend": J["backend.name"],
            "filter.q": J["form.q"]}), ["form.q", "unknown.project"]),
    }
    check(pages, J)
    check(refused, J, expect=(422,))

    failed_page = pages["failed job"][0].text
    shows("failed job", failed_page,
          jinja("{{ k | replace('_', ' ') }}", k=J["result.key"]),  # the generic result panel
          as_json(J["params.value"]), as_json({"q": J["params.value"]}), as_json({"text": J["result.value"]}))
    rows_html = pages["items fragment"][0].text
    shows("items fragment", rows_html, jinja("{{ v | truncate(240) }}", v=J["item.text"]),
          jinja("{{ v | truncate(240) }}", v=f"verdict: {J['item.verdict']}"))
    shows("answer items fragment", pages["answer items fragment"][0].text,
          jinja("{{ v | truncate(240) }}", v=J["asked"]))
    detail = pages["done item fragment"][0].text
    shows("done item fragment", detail, *(jinja("{{ v | pretty_json }}", v=v) for v in (
        J["item.text"], J["item.verdict"], J["response"])))
    form_page = pages["new job form"][0].text
    shows("new job form", form_page, str(escape(f"{J['backend.name']} · openai · {J['backend.model']}")),
          str(escape(f"tuned {J['run.name']} on {J['run.base_model']}")))


# ---------------------------------------------------------------- backends

B: dict[str, str] = {
    "row.name": fit("b", 100, 0), "row.base_url": fit("http://h/", 500, 1), "row.model": fit("row model", 500, 2),
    "row.adapter": fit("row adapter", 1000, 3), "row.api_key_env": fit("ENV", 200, 4),
    "test.sample": fit("sample answer"), "test.error": fit("test error"),
    "made.base_url": "http://127.0.0.1:9/v1/" + "".join(p for p in PAYLOADS if not set("?#") & set(p))[:450],
    "made.model": fit("made model", 500, 5), "made.adapter": fit("made adapter", 1000, 6),
    "form.name": fit("form name", 100, 7), "form.base_url": fit("form url", 500, 8),
    "form.model": fit("form model", 500, 9), "form.adapter": fit("form adapter", 1000, 10),
}


def test_backend_pages(client, db, admin):
    from app.backends import service
    from app.backends.schemas import BackendCreate
    from app.models import Backend

    # A row as no form would write it (names are slugs, URLs are checked), with a recorded test; and one made
    # through the service, whose name is a slug and whose URL, model and adapter carry payloads.
    db.add(Backend(name=B["row.name"], kind="openai", base_url=B["row.base_url"], model=B["row.model"],
                   adapter=B["row.adapter"], api_key_env=B["row.api_key_env"], limits={},
                   last_test={"ok": False, "sample": B["test.sample"], "error": B["test.error"],
                              "latency_ms": 3.0, "capabilities": {"chat": False}, "tested_at": "2026-01-02T03:04:05"}))
    name = f"inj-{secrets.token_hex(3)}"
    made = service.create_backend(db, data=BackendCreate(
        name=name, kind="openai", base_url=B["made.base_url"], model=B["made.model"], adapter=B["made.adapter"],
        limits={"max_retries": 0, "timeout_s": 5}), by=admin)
    db.commit()
    assert made.base_url == B["made.base_url"].rstrip("/")
    csrf = csrf_from(client)
    row_fields = ["row.name", "row.base_url", "row.model", "row.adapter", "row.api_key_env", "test.sample",
                  "test.error"]
    pages: Pages = {
        "backends": (client.get("/admin/backends"), [*row_fields, "made.model", "made.adapter"]),
        "backend": (client.get(f"/admin/backends/{name}"), ["made.model", "made.adapter"]),
        "new backend form": (client.get("/admin/backends/new"), []),
        # The Test button: the server is not there, and the row's result cell comes back with the error.
        "test result fragment": (client.post(f"/admin/backends/{name}/test", headers={**HTMX, "X-CSRFToken": csrf}),
                                 []),
    }
    form = {"csrftoken": csrf, "kind": "openai", "name": B["form.name"], "base_url": B["form.base_url"],
            "model": B["form.model"], "adapter": B["form.adapter"], "api_key_env": "", "rpm": "x"}
    refused: Pages = {
        "refused new backend": (client.post("/admin/backends/new", data=form),
                                ["form.name", "form.base_url", "form.model", "form.adapter"]),
        "refused edit": (client.post(f"/admin/backends/{name}", data={**form, "base_url": B["form.base_url"]}),
                         ["form.base_url", "form.model", "form.adapter"]),
    }
    check(pages, B)
    check(refused, B, expect=(422,))
    shows("backends", pages["backends"][0].text, str(escape(made.base_url)))
    shows("backend", pages["backend"][0].text, str(escape(made.base_url)))
    # The probe's error names the URL it could not reach.
    shows("test result fragment", pages["test result fragment"][0].text, "failed", str(escape(made.base_url)))


# ---------------------------------------------------------------- Flan: datasets and templates

NO_JINJA = "".join(p for p in PAYLOADS if "{" not in p)  # literal text a template may hold and still compile
F: dict[str, str] = {
    "project.name": fit("flan project", 200, 1), "dataset.source": fit("src", 100, 2),
    "dataset.file": "records " + UPLOAD_NAMES[0] + ".jsonl", "record.key": fit("field"),
    "record.question": fit("question"), "record.answer": fit("answer"), "record.other": fit("other value"),
    "template.name": fit("template", 200, 3), "template.reference": fit("reference", 2000),
    "template.metric": fit("metric"), "template.language": fit("language"),
    "template.input_prefix": fit("in", 200, 4), "template.target_prefix": fit("out", 200, 5),
    "render.error": fit("render error"), "render.reason": fit("R", 40, 6), "render.setting": fit("setting"),
    "render.template": fit("by template"), "render.tokenizer": fit("tokenizer"),
    "form.name": fit("ds name", 200, 7), "form.source": fit("form source", 100, 8),
    "form.file": "bad " + UPLOAD_NAMES[4] + ".jsonl", "draft.jinja": "{{ question " + NO_JINJA,
    "yaml": "dataset: x\ntemplates: " + TEXT,
}
F["template.jinja"] = "Q: {{ question }} " + NO_JINJA + " ||| {{ answer }}"
F["template.choices"] = "yes ||| no " + NO_JINJA


def _upload_dataset(client, csrf: str, slug: str, name: str, task: str) -> Any:
    records = [{"question": F["record.question"], "answer": F["record.answer"], F["record.key"]: F["record.other"]}
               for _ in range(3)]
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    return client.post(f"/projects/{slug}/datasets", headers={"X-CSRFToken": csrf},
                       data={"name": name, "task": task, "source": F["dataset.source"]},
                       files={"file": (F["dataset.file"], body, "application/jsonl")}, follow_redirects=False)


def test_flan_dataset_and_template_pages(client, db, admin):
    from app.models import Job, JobStatus
    from app.prompts.schemas import TemplateCreate
    from app.prompts.service import create_template

    project = _project(db, F["project.name"])
    db.commit()
    slug, name, task = project.slug, "payloads", "payload_task"
    csrf = csrf_from(client)
    uploaded = _upload_dataset(client, csrf, slug, name, task)
    assert uploaded.status_code == 303, uploaded.text[:800]
    template = create_template(db, project_slug=slug, user=admin, data=TemplateCreate(
        task=task, name=F["template.name"], jinja=F["template.jinja"], answer_choices=F["template.choices"],
        reference=F["template.reference"], type="few-shot",
        metadata={"metrics": [F["template.metric"]], "languages": [F["template.language"]]},
        few_shot={"input_prefix": F["template.input_prefix"], "target_prefix": F["template.target_prefix"]}))
    # A render job of the dataset, failed, as the worker leaves one: its error, a rejection reason, its result.
    db.add(Job(project_id=project.id, kind="render-templates", status=JobStatus.failed, error=F["render.error"],
               params={"dataset": name}, reasons={F["render.reason"]: 2}, items_total=2, items_rejected=2,
               result={"rows_added": 0, "by_setting": {F["render.setting"]: 1},
                       "by_template": {F["render.template"]: 1}, "tokenizer": F["render.tokenizer"],
                       "token_budget": 10, "k": 0, "seed": 0}))
    db.commit()
    record = {"question": F["record.question"], "answer": F["record.answer"], F["record.key"]: F["record.other"]}
    dataset_fields = ["dataset.source", "record.key"]
    render_fields = ["render.error", "render.reason", "render.setting", "render.template", "render.tokenizer"]
    editor_fields = ["template.name", "template.jinja", "template.choices", "template.reference",
                     "template.metric", "template.language", "template.input_prefix", "template.target_prefix"]
    draft = {"csrftoken": csrf, "task": task, "jinja": F["template.jinja"], "answer_choices": F["template.choices"]}
    pages: Pages = {
        "flan overview": (client.get("/flan"), ["project.name"]),
        "datasets": (client.get(f"/projects/{slug}/datasets"), ["project.name", *dataset_fields]),
        "dataset": (client.get(f"/projects/{slug}/datasets/{name}"),
                    ["project.name", "dataset.file", "template.name", *dataset_fields, *render_fields]),
        "dataset jobs fragment": (client.get(f"/projects/{slug}/datasets/{name}", headers=HTMX), render_fields),
        "templates": (client.get(f"/projects/{slug}/templates"), ["project.name", "template.name"]),
        "template editor": (client.get(f"/projects/{slug}/templates/{template.id}/edit"), editor_fields),
        # Typing in the editor: the preview renders the draft on the stored records, payloads and all.
        "preview fragment": (client.post(f"/projects/{slug}/templates/draft", data=draft, headers=HTMX),
                             ["record.question", "record.answer"]),
        "broken preview fragment": (client.post(f"/projects/{slug}/templates/draft", headers=HTMX,
                                                data={**draft, "jinja": F["draft.jinja"]}), []),
    }
    refused: Pages = {
        "refused template": (client.post(f"/projects/{slug}/templates/save", data={
            **draft, "name": F["template.name"], "reference": F["template.reference"]}),
            ["template.name", "template.jinja", "template.choices", "template.reference"]),
        "refused yaml": (client.post(f"/projects/{slug}/templates/import", data={"csrftoken": csrf, "yaml": F["yaml"]}),
                         ["yaml"]),
        "refused dataset": (_upload_dataset(client, csrf, slug, F["form.name"], task), ["form.name", "dataset.source"]),
        "refused file": (client.post(f"/projects/{slug}/datasets", headers={"X-CSRFToken": csrf},
                                     data={"name": "second", "task": task, "source": F["form.source"]},
                                     files={"file": (F["form.file"], b'{"a": 1}\n[2]\n', "application/jsonl")}),
                         ["form.source", "form.file"]),
    }
    check(pages, F)
    check(refused, F, expect=(409, 422))
    shows("dataset", pages["dataset"][0].text, as_json(record, indent=2))
    shows("templates", pages["templates"][0].text, jinja("{{ v | truncate(90) }}", v=F["template.jinja"]))
    broken = pages["broken preview fragment"][0].text
    assert 'data-code="syntax"' in broken, broken[:2000]


# ---------------------------------------------------------------- documents

D: dict[str, str] = {
    "project.name": fit("documents project", 200, 2), "licence": fit("L", 200, 3),
    "md.name": "notes " + UPLOAD_NAMES[3] + ".md", "txt.name": "plain " + UPLOAD_NAMES[0] + ".txt",
    "txt.text": "zebra " + TEXT, "jsonl.name": "rows " + UPLOAD_NAMES[1] + ".jsonl",
    "jsonl.id": fit("id", 500, 4), "jsonl.title": fit("title", 500, 5), "jsonl.text": "okapi " + TEXT,
    "bad.name": "bad " + UPLOAD_NAMES[4] + ".exe", "q": "zebra " + PAYLOADS[0] + PAYLOADS[1],
}
MARKDOWN = f"# Title {TEXT}\n\nBody of the notes, {TEXT}\n\n## Part {TEXT}\n\nMore of the notes.\n"


def test_document_pages(client, db, admin):
    from sqlalchemy import select

    from app.models import Document, Passage

    project = _project(db, D["project.name"])
    db.commit()
    slug = project.slug
    csrf = csrf_from(client)
    jsonl = json.dumps({"id": D["jsonl.id"], "title": D["jsonl.title"], "text": D["jsonl.text"]}) + "\n"
    files = [("files", (D["md.name"], MARKDOWN.encode(), "text/markdown")),
             ("files", (D["txt.name"], D["txt.text"].encode(), "text/plain")),
             ("files", (D["jsonl.name"], jsonl.encode(), "application/jsonl")),
             ("files", (D["bad.name"], b"MZ", "application/octet-stream"))]
    uploaded = client.post(f"/projects/{slug}/documents", headers={"X-CSRFToken": csrf}, files=files,
                           data={"licence": D["licence"]})
    docs = {d.format: d for d in db.scalars(select(Document).where(Document.project_id == project.id))}
    assert set(docs) == {"markdown", "text", "jsonl"}, uploaded.text[:1000]
    # Markdown keeps the text of its inline markup, so the title and headings still hold payloads with a `<`.
    md = docs["markdown"]
    headings = [h for h in db.scalars(select(Passage.heading).where(Passage.document_id == md.id)) if h]
    assert "<" in md.title and headings and all("<" in h for h in headings), (md.title, headings)
    D.update({"md.title": md.title, **{f"md.heading{i}": h for i, h in enumerate(headings)}})
    doc_fields = ["md.name", "txt.name", "jsonl.id", "jsonl.title", "md.title", "licence"]
    pages: Pages = {
        "upload outcomes": (uploaded, [*doc_fields, "bad.name"]),
        "documents": (client.get("/documents"), ["project.name"]),
        "collection": (client.get(f"/projects/{slug}/documents"), ["project.name", *doc_fields]),
        # The query is shown back; whether its words match is the search's business (PostgreSQL parses
        # `window.__xss=1` as one token), so the hits are read with a plain word.
        "search": (client.get(f"/projects/{slug}/documents", params={"q": D["q"]}), ["q"]),
        "search results fragment": (client.get(f"/projects/{slug}/documents", params={"q": "zebra"}, headers=HTMX),
                                    ["txt.name"]),
        "markdown document": (client.get(f"/documents/{md.id}"),
                              ["project.name", "md.name", "md.title", "licence", *(f"md.heading{i}" for i in
                                                                                  range(len(headings)))]),
        "text document": (client.get(f"/documents/{docs['text'].id}"), ["txt.name", "txt.text"]),
        "jsonl document": (client.get(f"/documents/{docs['jsonl'].id}"), ["jsonl.id", "jsonl.title", "jsonl.text"]),
    }
    check(pages, D)
    shows("search results fragment", pages["search results fragment"][0].text, "<mark>zebra</mark>",
          str(escape(PAYLOADS[0])))
    # Nothing stored: every file refused, each outcome naming its file.
    refused = client.post(f"/projects/{slug}/documents", headers={"X-CSRFToken": csrf},
                          files=[("files", (D["bad.name"], b"MZ", "application/octet-stream")),
                                 ("files", (D["txt.name"], D["txt.text"].encode(), "text/plain"))])
    check({"refused upload": (refused, ["bad.name", "txt.name"])}, D, expect=(409, 415, 422))


# ---------------------------------------------------------------- evaluation

E: dict[str, str] = {
    "project.name": fit("evaluation project", 200, 3), "set.name": fit("set", 100, 4),
    "set.description": fit("description"), "set.source": fit("set source", 200, 5),
    "instruction": fit("prompt"), "input": fit("input"), "reference": fit("reference answer"),
    "model_a": fit("model A", 200, 6), "model_b": fit("model B", 200, 7), "answer_a": fit("answer A"),
    "answer_b": fit("answer B"), "comparison.name": fit("comparison", 200, 8),
    "criterion.label": fit("C", 100, 9), "criterion.help": fit("criterion help", 500, 10),
    "judge": fit("judge", 200, 0), "baseline": fit("baseline", 200, 1), "rationale": fit("rationale"),
    "single.model": fit("single model", 200, 2), "benchmark.name": fit("bench", 100, 3),
    "benchmark.problem": fit("problem"), "run.method": fit("M", 30, 4), "export.format": fit("F", 30, 5),
    "export.split": fit("split"), "form.model": fit("form model", 200, 6),
}


def _evaluation_rows(db, admin) -> dict[str, Any]:
    """A set frozen by the service from instructions with payloads, both models' answers, a comparison made by the
    service with a custom rubric, a benchmark task with a problem, a pairwise and a single judge job with the
    judge's rationales on their items, and a succeeded run (a round) judged against the payload baseline."""
    from app.evaluation.human import create_comparison
    from app.evaluation.schemas import ComparisonCreate
    from app.evaluation.sets import create_set
    from app.instructions.selection import InstructionFilter
    from app.models import (
        BenchmarkTask,
        Candidate,
        EvaluationAnswer,
        Export,
        ExportStatus,
        Instruction,
        ItemStatus,
        Job,
        JobItem,
        JobStatus,
        RunState,
        TuningRun,
    )

    project = _project(db, E["project.name"])
    inst = Instruction(project_id=project.id, instruction=E["instruction"], input=E["input"],
                       content_hash=secrets.token_hex(8))
    inst.candidates = [Candidate(text=E["reference"], origin="reference")]
    db.add(inst)
    db.flush()
    found = create_set(db, project=project, name=E["set.name"], rules=InstructionFilter(),
                       description=E["set.description"], source=E["set.source"], by=admin)
    db.add_all([EvaluationAnswer(set_id=found.id, model=E["model_a"], instruction_id=inst.id, text=E["answer_a"],
                                 source="imported"),
                EvaluationAnswer(set_id=found.id, model=E["model_b"], instruction_id=inst.id, text=E["answer_b"],
                                 source="imported")])
    db.flush()
    comparison = create_comparison(db, project=project, by=admin, data=ComparisonCreate(
        name=E["comparison.name"], evaluation_set=E["set.name"], model_a=E["model_a"], model_b=E["model_b"],
        criteria=[{"key": "custom", "label": E["criterion.label"], "help": E["criterion.help"]}]))
    db.add(BenchmarkTask(project_id=project.id, name=E["benchmark.name"], rows=[], size=1, sha256="ab" * 32,
                         problems=[{"line": 1, "message": E["benchmark.problem"]}]))
    export = Export(project_id=project.id, version=1, format=E["export.format"], status=ExportStatus.succeeded,
                    row_counts={E["export.split"]: 1}, sha256="cd" * 32)
    db.add(export)
    db.flush()
    run = TuningRun(project_id=project.id, export_id=export.id, method=E["run.method"], base_model="/m",
                    state=RunState.succeeded, settings={})
    db.add(run)
    db.flush()
    ref = f"run-{run.id}"
    stats = {"win_rate": 0.5, "ci_low": 0.4, "ci_high": 0.6, "lc_win_rate": 0.5, "wins": 1, "losses": 1, "ties": 0,
             "inconsistent": 0, "failed": 0, "avg_length": 10, "baseline_avg_length": 12}
    pairwise = Job(project_id=project.id, kind="judge", status=JobStatus.succeeded, state={"set_id": found.id},
                   params={"models": [ref, E["model_a"], E["baseline"]], "evaluation_set": E["set.name"]},
                   result={"mode": "pairwise", "judge": E["judge"], "evaluation_set": E["set.name"],
                           "set_sha256": found.sha256, "baseline": E["baseline"],
                           "models": {E["model_a"]: {"answered": 1, "missing": 0}, ref: {"answered": 1, "missing": 1}},
                           "comparisons": {E["model_a"]: stats, ref: stats}, "verdicts": {E["model_a"]: {}}})
    single = Job(project_id=project.id, kind="judge", status=JobStatus.succeeded,
                 params={"models": [E["single.model"]]},
                 result={"mode": "single", "judge": E["judge"], "evaluation_set": E["set.name"],
                         "models": {E["single.model"]: {"answered": 1, "missing": 0}},
                         "scores": {E["single.model"]: {"mean": 7.0, "sd": 0.0, "n": 1, "failed": 0}}})
    db.add_all([pairwise, single])
    db.flush()
    items = [JobItem(job_id=pairwise.id, stage="judge", status=ItemStatus.done,
                     input={"instruction_id": inst.id, "model": E["model_a"], "baseline": E["baseline"],
                            "order": "model_first", "messages": [{"role": "user", "content": E["instruction"]}]},
                     output={"verdict": "A", "reason": E["rationale"]}),
             JobItem(job_id=single.id, stage="judge", status=ItemStatus.done,
                     input={"instruction_id": inst.id, "model": E["single.model"],
                            "messages": [{"role": "user", "content": E["instruction"]}]},
                     output={"score": 7, "reason": E["rationale"]})]
    db.add_all(items)
    db.commit()
    return {"project": project, "comparison": comparison, "pairwise": pairwise, "single": single, "items": items}


def test_evaluation_pages(client, db, admin):
    rows = _evaluation_rows(db, admin)
    slug, comparison = rows["project"].slug, rows["comparison"]
    pairwise, single, items = rows["pairwise"], rows["single"], rows["items"]
    judged = ["judge", "set.name", "model_a", "baseline"]
    pages: Pages = {
        "evaluation": (client.get(f"/projects/{slug}/evaluation"), [
            "project.name", "set.name", "set.description", "set.source", "model_a", "baseline", "single.model",
            "benchmark.name", "benchmark.problem", "comparison.name", "model_b"]),
        "rounds": (client.get(f"/projects/{slug}/rounds"), ["project.name", "run.method", "export.format",
                                                           "export.split", "baseline"]),
        "pairwise judge job": (client.get(f"/jobs/{pairwise.id}"), judged),
        "pairwise judge items fragment": (client.get(f"/jobs/{pairwise.id}/items", headers=HTMX), []),
        "pairwise rationale fragment": (client.get(f"/jobs/{pairwise.id}/items/{items[0].id}", headers=HTMX), []),
        "single judge job": (client.get(f"/jobs/{single.id}"), ["judge", "set.name", "single.model"]),
        "single rationale fragment": (client.get(f"/jobs/{single.id}/items/{items[1].id}", headers=HTMX), []),
        # The annotators' side: the pair to compare, with the rubric's labels and help.
        "compare": (client.get(f"/comparisons/{comparison.id}/annotate"),
                    ["project.name", "comparison.name", "criterion.label", "criterion.help"]),
    }
    verdict = re.search(r'data-verdict="(\d+)"', pages["compare"][0].text).group(1)
    csrf = csrf_from(client)
    pages["compare refused fragment"] = (client.post(
        f"/verdicts/{verdict}/submit", headers={**HTMX, "X-CSRFToken": csrf}, data={"comment": TEXT}),
        ["criterion.label"])
    refused: Pages = {"refused comparison": (client.post(f"/projects/{slug}/comparisons", data={
        "csrftoken": csrf, "name": E["comparison.name"], "evaluation_set": E["set.name"], "model_a": E["form.model"],
        "model_b": E["model_b"]}), ["form.model", "set.name", "model_b"])}
    check(pages, E)
    check(refused, E, expect=(404, 409, 422))
    shows("evaluation", pages["evaluation"][0].text, jinja("{{ v | lower }}", v=E["criterion.label"]))
    # The judge's rationale in the item's output, as JSON (a database may store the keys in another order).
    for name in ("pairwise rationale fragment", "single rationale fragment"):
        shows(name, pages[name][0].text, jinja("{{ v | pretty_json }}", v=E["rationale"]))
    shows("pairwise judge items fragment", pages["pairwise judge items fragment"][0].text,
          jinja("{{ v | truncate(240) }}", v=f"#{items[0].input['instruction_id']}: {E['model_a']} vs "
                                             f"{E['baseline']} (model_first)"))
    compare = pages["compare"][0].text
    # Markdown fields: the payloads come out as text (the sanitiser's own escaping), the template syntax as typed.
    for field in ("instruction", "input", "answer_a", "answer_b"):
        assert compare.count("&lt;script&gt;window.__xss=1&lt;/script&gt;") >= 4, field
    assert compare.count("{{ 7*7 }}{% raw %}") >= 4


# ---------------------------------------------------------------- curation and ablations

C: dict[str, str] = {
    "project.name": fit("curation project", 200, 4), "rule.reason": fit("R", 40, 5), "subset": fit("subset", 100, 6),
    "subset.method": fit("method"), "subset.rank_by": fit("rank by"), "sample": fit("near duplicate"),
    "cluster": fit("cluster sample"), "embedding_model": fit("embedder"), "strategy": fit("strategy"),
    "left_out": fit("left out"), "judge": fit("score judge"), "histogram": fit("bucket"),
    "ablation.name": fit("ablation", 200, 7), "ablation.base_model": fit("/models/ablation", 500, 8),
    "ablation.method": fit("M", 30, 9), "ablation.error": fit("ablation error"), "arm.name": fit("arm"),
    "arm.error": fit("arm error"), "ablation.set": fit("ablation set"), "ablation.judge": fit("ablation judge"),
    "ablation.job": fit("job kind"), "form.base_model": fit("/models/form", 500, 10), "form.name": fit("form", 200, 0),
}


def _curation_rows(db) -> dict[str, Any]:
    """A rule filter's refusal, a subset made by the service, the latest diversity, curate and quality-score jobs
    with their results, and a failed ablation with a failed arm."""
    from app.curation.subsets import add_members
    from app.models import Ablation, AblationStatus, CurationScore, Instruction, Job, JobStatus, ScoreKind

    project = _project(db, C["project.name"])
    inst = Instruction(project_id=project.id, instruction=TEXT, content_hash=secrets.token_hex(8))
    db.add(inst)
    db.flush()
    db.add(CurationScore(project_id=project.id, instruction_id=inst.id, kind=ScoreKind.rules, source="alpagasus",
                         passed=False, reason=C["rule.reason"]))
    add_members(db, project_id=project.id, name=C["subset"], instruction_ids=[inst.id], scores=[None], job_id=None,
                meta={"method": C["subset.method"], "threshold": 0.9, "rank_by": C["subset.rank_by"]})
    sample = {"id": inst.id, "text": C["sample"]}
    jobs = {
        "diversity": Job(project_id=project.id, kind="diversity", status=JobStatus.succeeded, result={
            "items": 1, "embedding_model": C["embedding_model"], "redundant": 1, "near_duplicate_groups": 1,
            "threshold": 0.9, "leaking": 0, "groups": [{"size": 2, "samples": [sample]}],
            "clusters": [{"size": 1, "samples": [{"id": inst.id, "text": C["cluster"]}]}]}),
        "curate": Job(project_id=project.id, kind="curate", status=JobStatus.succeeded, result={
            "subset": C["subset"], "selected": 1, "subset_size": 1, "rounds": 1, "strategy": C["strategy"],
            "threshold": 0.9, "ranked_by": C["subset.rank_by"], "embedding_model": C["embedding_model"],
            "left_out": {C["left_out"]: 1}}),
        "quality-score": Job(project_id=project.id, kind="quality-score", status=JobStatus.succeeded, result={
            "scored": 1, "judge": C["judge"], "mean": 3.0, "threshold": 3, "kept_at_threshold": 1,
            "histogram": {C["histogram"]: 1}}),
    }
    db.add_all(jobs.values())
    ablation = Ablation(project_id=project.id, name=C["ablation.name"], base_model=C["ablation.base_model"],
                        method=C["ablation.method"], status=AblationStatus.failed, error=C["ablation.error"],
                        evaluation={"kind": "eval-loss", "eval_rows": 1, "jobs": {C["ablation.job"]: 1},
                                    "set": {"evaluation_set": C["ablation.set"], "judge": C["ablation.judge"]}},
                        arms=[{"name": C["arm.name"], "label": C["arm.name"], "state": "failed",
                               "error": C["arm.error"], "result": {}}])
    db.add(ablation)
    db.commit()
    return {"project": project, "jobs": jobs, "ablation": ablation}


def test_curation_pages(client, db, admin):
    rows = _curation_rows(db)
    slug, jobs, ablation = rows["project"].slug, rows["jobs"], rows["ablation"]
    table = ["ablation.error", "arm.name", "arm.error"]
    pages: Pages = {
        "curation": (client.get(f"/projects/{slug}/curation"), [
            "project.name", "rule.reason", "subset", "subset.method", "subset.rank_by", "sample", "cluster",
            "embedding_model"]),
        "diversity job": (client.get(f"/jobs/{jobs['diversity'].id}"), ["sample", "cluster", "embedding_model"]),
        "curate job": (client.get(f"/jobs/{jobs['curate'].id}"), ["subset", "strategy", "subset.rank_by",
                                                                  "embedding_model"]),
        "quality-score job": (client.get(f"/jobs/{jobs['quality-score'].id}"), ["judge", "histogram"]),
        "ablations": (client.get(f"/projects/{slug}/ablations"), ["project.name", "subset", "ablation.name"]),
        "ablation": (client.get(f"/ablations/{ablation.id}"), [
            *table, "ablation.name", "ablation.base_model", "ablation.method", "ablation.set", "ablation.judge",
            "ablation.job"]),
        "ablation table fragment": (client.get(f"/ablations/{ablation.id}", headers=HTMX), table),
    }
    refused: Pages = {"refused ablation": (client.post(f"/projects/{slug}/ablations", data={
        "csrftoken": csrf_from(client), "base_model": C["form.base_model"], "name": C["form.name"], "method": "x",
        "subset": C["subset"], "arm": "curated"}), ["form.base_model", "form.name", "subset"])}
    check(pages, C)
    check(refused, C, expect=(422,))
    shows("curate job", pages["curate job"][0].text, jinja("{{ v | replace('_', ' ') }}", v=C["left_out"]))


# ---------------------------------------------------------------- the Self-Instruct report

S: dict[str, str] = {
    "project.name": fit("self-instruct project", 200, 5), "model": fit("teacher", 200, 6),
    "construction": fit("construction"), "backend": fit("backend"), "mode": fit("mode"),
    "stopped": fit("stopped"), "message": fit("stop message"),
}


def test_self_instruct_report(client, db, admin):
    from app.models import ItemStatus, Job, JobItem, JobStatus

    project = _project(db, S["project.name"])
    job = Job(project_id=project.id, kind="self-instruct", status=JobStatus.succeeded,
              params={"backend": S["backend"], "mode": S["mode"]},
              state={"model": S["model"], "construction": S["construction"]},
              result={"stopped": S["stopped"], "message": S["message"], "prompts_sent": 1, "candidates_parsed": 2,
                      "accepted": 1, "acceptance_rate": 0.5, "tasks_added": 1, "instructions_added": 1,
                      "model": S["model"], "construction": S["construction"], "mode": S["mode"]})
    db.add(job)
    db.flush()
    db.add_all([JobItem(job_id=job.id, stage="prompt", status=ItemStatus.done, input={"text": TEXT}),
                JobItem(job_id=job.id, stage="candidate", status=ItemStatus.rejected, reason="too_similar",
                        input={"instruction": TEXT}),
                JobItem(job_id=job.id, stage="candidate", status=ItemStatus.done, input={"instruction": TEXT})])
    db.commit()
    report = f"/projects/{project.slug}/self-instruct/report"
    pages: Pages = {
        "report": (client.get(report), ["project.name", "model", "construction", "mode"]),
        "report round fragment": (client.get(report, params={"job": job.id}, headers=HTMX),
                                  ["model", "construction", "mode"]),
        "self-instruct job": (client.get(f"/jobs/{job.id}"), ["message", "model", "construction", "mode"]),
    }
    check(pages, S)
    stopped = jinja("{{ v | replace('_', ' ') }}", v=S["stopped"])
    for name in ("report", "self-instruct job"):
        shows(name, pages[name][0].text, stopped)
    # Without a model in the state, the report names the backend asked for.
    job.state = {}
    db.commit()
    check({"report naming the backend": (client.get(report), ["backend"])}, S)


# ---------------------------------------------------------------- images and LLaVA conversations

IMG: dict[str, str] = {
    "project.name": fit("images project", 200, 6), "image.name": "coco/" + "/x".join(
        p.replace("..", "") for p in PAYLOADS if "\\" not in p)[:480] + ".png",
    "caption": fit("caption"), "turn.user": "<image>\n" + fit("first question"), "turn.assistant": fit("answer"),
    "instruction": fit("follow-up question"), "candidate": fit("candidate"), "llava.model": fit("teacher", 200, 7),
    "llava.text": fit("unparsable teacher answer"), "turn.edit": fit("corrected turn"), "comment": fit("comment"),
}


def test_image_and_llava_pages(client, db, admin, token_for):
    from app.models import Annotation, AnnotationStatus, Instruction, ItemStatus, Job, JobItem, JobStatus
    from app.models.base import utcnow
    from tests.images.pictures import data_url, png

    project = _project(db, IMG["project.name"])
    headers = token_for(admin)
    db.commit()
    # A LLaVA-shaped conversation through the ingest API: the image (bytes, a name and a caption) and the turns.
    item = {"instruction": IMG["instruction"], "candidates": [{"text": IMG["candidate"]}],
            "history": [{"role": "user", "content": IMG["turn.user"]},
                        {"role": "assistant", "content": IMG["turn.assistant"]}],
            "images": [{"data": data_url(png(mark="inj")), "name": IMG["image.name"], "captions": [IMG["caption"]]}]}
    made = client.post(f"/api/v1/projects/{project.slug}/instructions", json={"items": [item]}, headers=headers)
    assert made.status_code == 200, made.text[:800]
    instruction = db.get(Instruction, made.json()["ids"][0])
    db.refresh(instruction)
    assert instruction.images[0]["name"] == IMG["image.name"]
    # The llava-generate job that would write such conversations: an item it stored, one it could not parse.
    job = Job(project_id=project.id, kind="llava-generate", status=JobStatus.succeeded,
              params={"backend": "teacher"}, result={"instructions_added": 1, "model": IMG["llava.model"]})
    db.add(job)
    db.flush()
    asked = {"instruction_id": instruction.id, "kind": "conversation", "images": instruction.images,
             "messages": [{"role": "user", "content": IMG["caption"]}]}
    items = [JobItem(job_id=job.id, stage="prompt", status=ItemStatus.done, input=asked,
                     output={"instruction_id": instruction.id, "kind": "conversation", "turns": 2}),
             JobItem(job_id=job.id, stage="prompt", status=ItemStatus.rejected, reason="unparsable", input=asked,
                     output={"text": IMG["llava.text"]})]
    db.add_all(items)
    db.commit()
    slug = project.slug
    annotate = client.get(f"/projects/{slug}/annotate")
    # Another annotator's submitted annotation with a correction of the assistant's turn: the review pages list it.
    db.add(Annotation(instruction_id=instruction.id, user_id=quick_user(db, "annotator").id,
                      status=AnnotationStatus.submitted, ranking=[instruction.candidates[0].id],
                      turn_edits={"1": IMG["turn.edit"]}, comment=IMG["comment"], submitted_at=utcnow()))
    db.commit()
    review_list = f"/review?project={slug}&status="
    pages: Pages = {
        "annotate": (annotate, ["project.name", "image.name", "caption"]),
        "review list": (client.get(review_list), ["image.name"]),
        "review list fragment": (client.get(review_list, headers=HTMX), ["image.name"]),
        "review item": (client.get(f"/review/{instruction.id}"), ["image.name", "caption", "comment"]),
        "admin instructions": (client.get(f"/admin/instructions?project={slug}"), ["image.name"]),
        "admin instructions fragment": (client.get(f"/admin/instructions?project={slug}", headers=HTMX),
                                        ["image.name"]),
        "llava job": (client.get(f"/jobs/{job.id}"), ["llava.model"]),
        "llava item fragment": (client.get(f"/jobs/{job.id}/items/{items[0].id}", headers=HTMX), []),
        "llava rejected item fragment": (client.get(f"/jobs/{job.id}/items/{items[1].id}", headers=HTMX), []),
    }
    check(pages, IMG)
    # The turns (and on the review page the corrected turn), through Markdown: the payloads as text.
    for name, texts in (("annotate", 4), ("review item", 5)):
        assert pages[name][0].text.count("&lt;script&gt;window.__xss=1&lt;/script&gt;") >= texts, name
        assert pages[name][0].text.count("{{ 7*7 }}{% raw %}") >= texts, name
    shows("llava item fragment", pages["llava item fragment"][0].text,
          jinja("{{ v | pretty_json }}", v=IMG["image.name"]), jinja("{{ v | pretty_json }}", v=IMG["caption"]))
    shows("llava rejected item fragment", pages["llava rejected item fragment"][0].text,
          jinja("{{ v | pretty_json }}", v=IMG["llava.text"]))


# ---------------------------------------------------------------- the pages' own scripts

def test_the_pages_scripts_insert_text_only():
    """Every script of our own a template loads (the new pages add pairwise.js, curation.js and rounds.js, and
    app.js now reads data-confirm) turns no string into markup; data attributes are read as text."""
    scripts = sorted({m for path in (ROOT / "templates").rglob("*.html")
                      for m in re.findall(r"path='(js/[^']+\.js)'", path.read_text())})
    assert {"js/app.js", "js/pairwise.js", "js/curation.js", "js/rounds.js"} <= set(scripts), scripts
    for src in scripts:
        code = (ROOT / "app" / "static" / src).read_text()
        body = re.sub(r"/\*.*?\*/|(?<![:\"'])//[^\n]*", "", code, flags=re.S)  # comments may name a sink
        assert HTML_SINKS.findall(body) == [], f"{src} turns strings into HTML: {HTML_SINKS.findall(body)}"
    # An inline handler is JavaScript read after the attribute is decoded: escaping cannot keep a text inside one
    # from ending its string. Handlers with a template value in them are not written at all.
    templated = [(path.name, h[:80]) for path in (ROOT / "templates").rglob("*.html")
                 for h in re.findall(r'\son[a-z]+="[^"]*(?:\{\{|\{%)[^"]*"', path.read_text())]
    assert templated == [], f"inline handlers with template values: {templated}"
    app_js = (ROOT / "app" / "static" / "js" / "app.js").read_text()
    assert "window.confirm(form.dataset.confirm)" in app_js, "data-confirm is no longer handled"
