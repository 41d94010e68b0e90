"""The rounds report: per self-instruct job, prompts, candidates, accepted, rejections by reason, and A–D shares."""

from __future__ import annotations

from app.models import Annotation, Candidate, Instruction, ItemStatus, Job, JobItem, JobStatus, Project
from tests.conftest import login


def _round(db, project, *, accepted, rejected, ratings, model):
    job = Job(project_id=project.id, kind="self-instruct", params={"backend": "b", "mode": "self-instruct"},
              status=JobStatus.succeeded, state={"model": model, "construction": "distilled"},
              result={"stopped": "target_reached"})
    db.add(job)
    db.flush()
    prompt = JobItem(job_id=job.id, stage="prompt", status=ItemStatus.done)
    db.add(prompt)
    db.flush()
    for i in range(accepted):
        db.add(JobItem(job_id=job.id, parent_id=prompt.id, stage="candidate", status=ItemStatus.done,
                       input={"instruction": f"task {i}"}))
    for reason, n in rejected.items():
        for _ in range(n):
            db.add(JobItem(job_id=job.id, parent_id=prompt.id, stage="candidate", status=ItemStatus.rejected,
                           reason=reason))
    for i, letter in enumerate(ratings):
        inst = Instruction(project_id=project.id, instruction=f"{model} task {i}", content_hash=f"{model}{i}",
                           source="self-instruct", job_id=job.id, construction="distilled")
        inst.candidates.append(Candidate(text="an instance output", origin="reference", job_id=job.id))
        db.add(inst)
        db.flush()
        db.add(Annotation(instruction_id=inst.id, user_id=project.created_by_id, status="submitted",
                          ratings={str(inst.candidates[0].id): letter}))
    db.flush()
    return job


def test_rounds_side_by_side_with_a_to_d_shares(client, db, make_user):
    admin = make_user("admin")
    project = Project(name="Boot", slug="boot", created_by_id=admin.id, settings={"rating_scale": "A-D"})
    db.add(project)
    db.flush()
    first = _round(db, project, accepted=4, rejected={"too_similar": 3, "blacklisted": 1}, ratings="AABD",
                   model="teacher-1")
    second = _round(db, project, accepted=2, rejected={"too_similar": 6}, ratings="AC", model="run-7")
    login(client, admin.email)
    page = client.get("/projects/boot/self-instruct/report")
    assert page.status_code == 200
    html = page.text
    row1 = html.split(f'data-round="{first.id}"')[1].split("</tr>")[0]
    row2 = html.split(f'data-round="{second.id}"')[1].split("</tr>")[0]
    assert 'data-col="parsed">8<' in row1 and 'data-col="accepted">4 ' in row1
    assert 'data-reason="too_similar"><a href="/jobs/' in row1 and '>3</a>' in row1
    assert 'data-share="A">50%' in row1 and 'data-share="B">25%' in row1 and 'data-share="D">25%' in row1
    assert 'data-share="A">50%' in row2 and 'data-share="C">50%' in row2 and "run-7" in row2
    assert 'data-reference="A">54%' in html and "46% flawed" in html
    # The job page's result panel loads one round as a fragment.
    first.result = {"stopped": "target_reached", "message": "Reached the target.", "prompts_sent": 1,
                    "candidates_parsed": 8, "accepted": 4, "acceptance_rate": 0.5, "tasks_added": 4,
                    "instructions_added": 4, "model": "teacher-1", "construction": "distilled",
                    "mode": "self-instruct"}
    db.flush()
    job_page = client.get(f"/jobs/{first.id}").text
    assert 'data-result="prompts_sent">1<' in job_page
    assert f'hx-get="/projects/boot/self-instruct/report?job={first.id}"' in job_page
    fragment = client.get(f"/projects/boot/self-instruct/report?job={second.id}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert f'data-round="{second.id}"' in fragment.text and f'data-round="{first.id}"' not in fragment.text


def test_the_new_job_form_offers_every_parameter_and_names_the_missing_seeds(client, db, make_user):
    from app.models import Backend
    from tests.jobs.test_pages import _csrf

    admin = make_user("admin")
    db.add(Project(name="Form", slug="form"))
    db.add(Backend(name="teacher", kind="openai", base_url="http://127.0.0.1:9/v1", model="t-1"))
    db.flush()
    login(client, admin.email)
    page = client.get("/jobs/new?project=form&kind=self-instruct")
    assert page.status_code == 200
    for name in ("backend", "mode", "target_accepted", "max_prompts", "prompt_instructions", "machine_instructions",
                 "rouge_threshold", "classify", "generate_instances", "temperature", "top_p", "max_tokens", "seed",
                 "seeds.construction"):
        assert f'name="{name}"' in page.text, name
    assert 'value="human" checked' in page.text  # the default seeds, shown as they will apply
    resp = client.post("/jobs", data={"csrftoken": _csrf(page.text), "project": "form", "kind": "self-instruct",
                                      "backend": "teacher", "mode": "self-instruct", "seeds.construction": "human"})
    assert resp.status_code == 422 and "matches no seed instruction of this project" in resp.text
