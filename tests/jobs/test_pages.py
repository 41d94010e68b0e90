"""The shared job pages: the form drawn from a kind's parameters, errors beside fields, the job page's counts,
reasons, items with their raw answers, and its actions."""

from __future__ import annotations

import re

from app.models import Backend, Instruction, ItemStatus, Job, JobItem, JobStatus, Project, StoredResponse
from tests.conftest import login


def _setup(db, make_user):
    admin = make_user("admin")
    project = Project(name="Pages", slug="pages")
    db.add(project)
    db.flush()
    db.add(Instruction(project_id=project.id, instruction="Say hi", content_hash="x"))
    db.add(Backend(name="teacher", kind="openai", base_url="http://127.0.0.1:9/v1", model="t-1"))
    db.flush()
    return admin, project


def _csrf(page: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', page).group(1)


def test_new_job_form_is_drawn_from_the_kind_and_keeps_input_on_errors(client, db, make_user):
    admin, _project = _setup(db, make_user)
    login(client, admin.email)
    page = client.get("/jobs/new?project=pages&kind=answer")
    assert page.status_code == 200
    html = page.text
    assert 'name="backend"' in html and ">teacher · openai · t-1<" in html
    assert 'name="filter.status"' in html and 'name="n"' in html and 'max="16"' in html
    assert 'value="pending" checked' in html  # the default filter, shown as it will apply
    resp = client.post("/jobs", data={"csrftoken": _csrf(html), "project": "pages", "kind": "answer",
                                      "backend": "teacher", "n": "99", "temperature": "0.3",
                                      "filter.status": ["pending", "submitted"]})
    assert resp.status_code == 422
    field = re.search(r'data-field="n".*?</div>\s*</div>', resp.text, re.S).group(0)
    assert "less than or equal to 16" in field and 'value="99"' in field
    assert 'value="0.3"' in resp.text and 'value="submitted" checked' in resp.text
    resp = client.post("/jobs", data={"csrftoken": _csrf(html), "project": "pages", "kind": "answer",
                                      "backend": "nowhere", "n": "2"})
    assert resp.status_code == 422 and "Backend &#39;nowhere&#39; does not exist" in resp.text
    resp = client.post("/jobs", data={"csrftoken": _csrf(html), "project": "pages", "kind": "answer",
                                      "backend": "teacher", "n": "2", "filter.status": "pending"},
                       follow_redirects=False)
    assert resp.status_code == 303
    job = db.get(Job, int(resp.headers["location"].rsplit("/", 1)[-1]))
    assert job.kind == "answer" and job.params["n"] == 2 and job.params["filter"]["status"] == ["pending"]
    assert job.backends == ["teacher"] and job.status == JobStatus.queued


def test_job_page_shows_counts_reasons_items_and_raw_answers(client, db, make_user):
    admin, project = _setup(db, make_user)
    job = Job(project_id=project.id, kind="answer", params={"backend": "teacher"}, backends=["teacher"],
              status=JobStatus.succeeded, items_total=3, items_done=1, items_rejected=1, items_failed=1,
              reasons={"truncated": 1}, result={"candidates_added": 1, "instructions_answered": 1,
                                                 "model": "t-1", "construction": "distilled"}, planned=True)
    db.add(job)
    db.flush()
    db.add(StoredResponse(request_hash="a" * 64, backend="teacher", model="t-1",
                          response={"choices": [{"text": "Hello <b>there</b>", "finish_reason": "stop"}]}))
    items = [JobItem(job_id=job.id, stage="prompt", status=ItemStatus.done, request_hash="a" * 64,
                     input={"messages": [{"role": "user", "content": "Say hi"}]},
                     output={"instruction_id": 1, "added": 1, "skipped": 0}),
             JobItem(job_id=job.id, stage="prompt", status=ItemStatus.rejected, reason="truncated",
                     input={"messages": [{"role": "user", "content": "Write a novel"}]}),
             JobItem(job_id=job.id, stage="prompt", status=ItemStatus.failed, error="HTTP 400: no",
                     input={"messages": [{"role": "user", "content": "Bad"}]})]
    db.add_all(items)
    db.flush()
    login(client, admin.email)
    page = client.get(f"/jobs/{job.id}").text
    assert 'data-status="succeeded"' in page and 'data-reason="truncated"' in page
    assert re.search(r'data-count="failed"><span class="stat">1<', page)
    assert 'data-result="candidates_added">1<' in page and "Retry 1 failed" in page
    rows = client.get(f"/jobs/{job.id}/items?status=rejected&reason=truncated").text
    assert "Write a novel" in rows and "Say hi" not in rows
    detail = client.get(f"/jobs/{job.id}/items/{items[0].id}").text
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in detail  # the raw answer, escaped
    resp = client.post(f"/jobs/{job.id}/retry-failed", data={"csrftoken": _csrf(page)}, follow_redirects=False)
    assert resp.status_code == 303
    db.refresh(job)
    assert job.status == JobStatus.queued and job.items_failed == 0
