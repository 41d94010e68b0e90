"""Admin instruction browser (filters, search, bulk actions) and file imports run by a real worker."""

from __future__ import annotations

import io
import shutil

from fastapi.testclient import TestClient

from app.models import Annotation, Approval, ImportJob, ImportStatus, Instruction, InstructionStatus, Split
from app.review.service import approve
from tests.conftest import csrf_from, login, wait_for


def test_browse_filter_search_and_bulk(client, db, make_user, make_project, make_instruction, annotate):
    admin = make_user("admin")
    project = make_project(name="Browse me")
    first = make_instruction(project, text="Translate the menu into French.", source="menus")
    second = make_instruction(project, text="Write a limerick about cats.", input="three cats", source="poems")
    ann = make_user("annotator")
    annotate(second, ann, ranking=[c.id for c in second.candidates], flags=["unsafe"])
    second.status = InstructionStatus.submitted
    approve(db, instruction=second, by=admin)
    db.commit()
    login(client, admin.email)
    token = csrf_from(client)

    everything = client.get("/admin/instructions")
    assert "Translate the menu" in everything.text and "limerick" in everything.text
    search = client.get("/admin/instructions", params={"q": "THREE cats"})
    assert "limerick" in search.text and "Translate the menu" not in search.text
    assert "limerick" not in client.get("/admin/instructions", params={"q": "100%_"}).text
    by_source = client.get("/admin/instructions", params={"source": "menus"})
    assert "Translate the menu" in by_source.text and "limerick" not in by_source.text
    flagged = client.get("/admin/instructions", params={"flag": "unsafe", "annotator": str(ann.id)})
    assert "limerick" in flagged.text and "Translate the menu" not in flagged.text
    approved = client.get("/admin/instructions", params={"status": "approved"})
    assert "limerick" in approved.text and "Translate the menu" not in approved.text
    bad = client.get("/admin/instructions", params={"split": "nope"})
    assert "Unknown split" in bad.text

    resp = client.post("/admin/instructions/bulk", data={"csrftoken": token, "action": "set_split", "split": "holdout",
                                                         "ids": [str(first.id), str(second.id)], "back": "?q="},
                       follow_redirects=False)
    assert resp.status_code == 303 and "done=set_split:2" in resp.headers["location"]
    db.refresh(first)
    assert first.split == Split.holdout
    assert "Split changed for 2 instruction(s)." in client.get(resp.headers["location"]).text

    resp = client.post("/admin/instructions/bulk", data={"csrftoken": token, "action": "requeue",
                                                         "ids": [str(second.id)]}, follow_redirects=False)
    assert resp.status_code == 303
    db.refresh(second)
    assert second.status == InstructionStatus.pending and second.submitted_count == 0
    assert db.query(Annotation).filter_by(instruction_id=second.id).count() == 0
    assert db.query(Approval).filter_by(instruction_id=second.id).count() == 0

    none = client.post("/admin/instructions/bulk", data={"csrftoken": token, "action": "delete"})
    assert none.status_code == 422 and "Select at least one instruction." in none.text
    resp = client.post("/admin/instructions/bulk", data={"csrftoken": token, "action": "delete",
                                                         "ids": [str(first.id)]}, follow_redirects=False)
    assert resp.status_code == 303
    assert db.get(Instruction, first.id) is None


def test_import_form_validation(client, db, make_user, make_project):
    admin = make_user("admin")
    project = make_project(name="Imports")
    db.commit()
    login(client, admin.email)
    token = csrf_from(client)
    page = client.get("/admin/imports")
    assert page.status_code == 200 and "self-instruct" in page.text

    neither = client.post("/admin/imports", data={"csrftoken": token, "project": project.slug, "format": "auto"})
    assert neither.status_code == 422 and "Upload a file or give a server path" in neither.text
    outside = client.post("/admin/imports", data={"csrftoken": token, "project": project.slug, "format": "auto",
                                                  "server_path": "../../etc/passwd"})
    assert outside.status_code == 422 and "must lie under" in outside.text
    no_project = client.post("/admin/imports", data={"csrftoken": token, "project": "", "server_path": "x.jsonl"})
    assert no_project.status_code == 422 and "Choose a project." in no_project.text
    empty = client.post("/admin/imports", data={"project": project.slug}, headers={"X-CSRFToken": token},
                        files={"file": ("empty.jsonl", io.BytesIO(b""), "application/jsonl")})
    assert empty.status_code == 422 and "empty" in empty.text


def test_upload_runs_as_a_job_with_progress(start_worker, shared_data):
    from app.core.db import get_sessionmaker
    from app.main import create_app
    from app.models import Project
    from app.users.service import create_user

    worker = start_worker(queues="default")
    with get_sessionmaker()() as s:
        admin = create_user(s, email="imports-admin@example.com", password="correct horse battery", role="admin")
        s.add(Project(name="Seed tasks", slug="seed-tasks", settings={}))
        s.commit()
        assert admin.id
    seed = shared_data / "self-instruct" / "seed_tasks.jsonl"
    with TestClient(create_app()) as client:
        login(client, "imports-admin@example.com")
        token = csrf_from(client)
        with seed.open("rb") as fh:
            resp = client.post("/admin/imports", data={"project": "seed-tasks", "format": "auto"},
                               headers={"X-CSRFToken": token, "HX-Request": "true"},
                               files={"file": ("seed_tasks.jsonl", fh, "application/jsonl")}, follow_redirects=False)
        assert resp.status_code == 204, resp.text
        job_url = resp.headers["hx-redirect"]

        def finished():
            page = client.get(job_url, headers={"HX-Request": "true"})
            return page if ('data-testid="job-status">succeeded' in page.text
                            or 'data-testid="job-status">failed' in page.text) else None

        page = wait_for(finished, timeout=60, message=f"the import to finish; worker log:\n{worker.output()[-3000:]}")
        assert "succeeded" in page.text, page.text
        assert "hx-trigger" not in page.text  # polling stops once the job is over
        assert "175 rows read of 175 (100%)" in page.text
    with get_sessionmaker()() as s:
        job = s.query(ImportJob).one()
        assert job.status == ImportStatus.succeeded and job.result["created"] == 175
        assert s.query(Instruction).count() == 175

    # A bad file on the server fails as a whole, naming the line, and keeps nothing of itself.
    from app.admin.imports_service import imports_root

    bad = imports_root() / "bad-seed.jsonl"
    shutil.copy(seed, bad)
    with bad.open("a") as fh:
        fh.write('{"id": "broken", "name": "broken", "instruction": "", "instances": []}\n')
    with TestClient(create_app()) as client:
        login(client, "imports-admin@example.com")
        resp = client.post("/admin/imports", data={"csrftoken": csrf_from(client), "project": "seed-tasks",
                                                   "format": "self-instruct", "server_path": "bad-seed.jsonl"},
                           follow_redirects=False)
        assert resp.status_code == 303, resp.text
        page = wait_for(lambda: (p := client.get(resp.headers["location"])) and "job-status\">failed" in p.text and p,
                        timeout=60, message=f"the bad import to fail; worker log:\n{worker.output()[-3000:]}")
        assert "bad-seed.jsonl:176" in page.text
    with get_sessionmaker()() as s:
        assert s.query(Instruction).count() == 175
    _predictions_twice_and_undo(create_app, worker, shared_data)


def _upload(client, path_or_bytes, name: str, project: str) -> str:
    """Upload through the real form (HTMX, as the page sends it); the job page's URL."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    resp = client.post("/admin/imports", data={"project": project, "format": "auto"},
                       headers={"X-CSRFToken": csrf_from(client), "HX-Request": "true"},
                       files={"file": (name, io.BytesIO(data), "application/jsonl")}, follow_redirects=False)
    assert resp.status_code == 204, resp.text
    return resp.headers["hx-redirect"]


def _finished(client, url: str, worker) -> str:
    def done():
        page = client.get(url, headers={"HX-Request": "true"})
        return page.text if 'job-status">succeeded' in page.text or 'job-status">failed' in page.text else None
    return wait_for(done, timeout=60, message=f"the import to finish; worker log:\n{worker.output()[-3000:]}")


def _predictions_twice_and_undo(create_app, worker, shared_data) -> None:
    """Issue 10: the same predictions file uploaded twice names its model from the chosen file and adds no
    duplicate; undoing the first upload takes its candidates back out of the rankings; errors name the file."""
    from sqlalchemy import select

    from app.core.db import get_sessionmaker
    from app.models import Candidate, Project, User

    base = shared_data / "self-instruct"
    tasks = b"".join(base.joinpath("user_oriented_instructions.jsonl").read_bytes().splitlines(True)[:12])
    davinci = b"".join(base.joinpath("predictions", "davinci.jsonl").read_bytes().splitlines(True)[:12])
    with get_sessionmaker()() as s:
        s.add(Project(name="Models", slug="models", settings={}))
        s.commit()
    with TestClient(create_app()) as client:
        login(client, "imports-admin@example.com")
        assert "succeeded" in _finished(client, _upload(client, tasks, "user_oriented_instructions.jsonl", "models"),
                                        worker)
        first_url = _upload(client, davinci, "davinci.jsonl", "models")
        first = _finished(client, first_url, worker)
        assert 'data-testid="result-updated">12<' in first
        again = _finished(client, _upload(client, davinci, "davinci.jsonl", "models"), worker)
        assert 'data-testid="result-unchanged">12<' in again and 'data-testid="result-updated">0<' in again
        with get_sessionmaker()() as s:
            models = s.scalars(select(Candidate.model).where(Candidate.origin == "imported")).all()
            assert models == ["davinci"] * 12  # named from the file chosen, once per instruction
            inst = s.scalars(select(Instruction).join(Project).where(Project.slug == "models")).first()
            ids = [c.id for c in inst.candidates]
            kept = [c.id for c in inst.candidates if c.origin == "reference"]  # what undo leaves ranked
            admin = s.scalar(select(User).where(User.email == "imports-admin@example.com"))
            s.add(Annotation(instruction_id=inst.id, user_id=admin.id, ranking=ids[::-1], status="submitted"))
            s.commit()
        # A bad line is reported against the file's own name, not where the server stored the upload.
        broken = tasks.splitlines(True)[0] + b"{oops\n"
        failed = _finished(client, _upload(client, broken, "my-batch.jsonl", "models"), worker)
        assert "my-batch.jsonl:2" in failed and "uploads" not in failed

        undo = client.post(f"{first_url}/undo", data={"csrftoken": csrf_from(client)})
        assert undo.status_code == 200 and 'data-testid="undo-summary"' in undo.text
        assert "12 candidate(s) it added" in undo.text and "1 annotation(s) re-ranked" in undo.text
    with get_sessionmaker()() as s:
        assert s.scalars(select(Candidate.model).where(Candidate.origin == "imported")).all() == []
        assert s.query(Instruction).join(Project).filter(Project.slug == "models").count() == 12
        assert s.scalar(select(Annotation.ranking).where(Annotation.instruction_id == inst.id)) == kept


def test_claim_is_idempotent_and_takes_back_silent_jobs(db, make_user, make_project):
    from datetime import timedelta

    from app.admin.imports_service import claim_job
    from app.models.base import utcnow

    job = ImportJob(project_id=make_project().id, path="/nowhere", source_name="x.jsonl", format="auto",
                    status=ImportStatus.queued, result={})
    db.add(job)
    db.flush()
    assert claim_job(db, job_id=job.id) is job and job.status == ImportStatus.running
    assert claim_job(db, job_id=job.id) is None  # running and alive: another delivery leaves it alone
    job.heartbeat_at = utcnow() - timedelta(minutes=10)
    assert claim_job(db, job_id=job.id) is job  # its worker went silent: taken back
    job.status = ImportStatus.succeeded
    assert claim_job(db, job_id=job.id) is None
    assert claim_job(db, job_id=999999) is None
