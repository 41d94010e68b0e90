"""grounded-eval through the model server: the base model as a `local` backend ("before") and the tuned run as
`run-<id>` ("after"), both asked the held-out grounded questions by the job engine; the run page's panel finds
both."""

from __future__ import annotations

import hashlib

from app.core.db import get_sessionmaker
from app.jobs.runner import run_job
from app.models import Candidate, Instruction, Job, JobStatus, Split, TuningRun

PASSAGE = "The harbour wall was built of granite blocks in 1820."


def test_grounded_eval_of_base_and_tuned_run_through_the_model_server(served, lora_run):
    from app.jobs.service import create_job

    run_id = lora_run["succeeded"]
    with get_sessionmaker()() as session:
        project_id = session.get(TuningRun, run_id).project_id
        for i, (question, answerable) in enumerate([("When was the wall built?", True),
                                                    ("Who painted the lighthouse?", False)]):
            item = Instruction(project_id=project_id, instruction=question, input=PASSAGE, split=Split.holdout,
                               source="grounded-qa", system="Answer from the context.",
                               meta={"passage_id": 1, "answerable": answerable, "refusal": "I don't know"},
                               content_hash=hashlib.sha256(f"{i}".encode()).hexdigest())
            item.candidates = [Candidate(text="1820" if answerable else "I don't know")]
            session.add(item)
        slug = session.get(TuningRun, run_id).project.slug
        jobs = {side: create_job(session, user=None, project_slug=slug, kind_name="grounded-eval", params={
            "backend": backend, "for_run": run_id, "max_tokens": 8, **({"side": "before"} if side == "before"
                                                                        else {})}).id
            for side, backend in (("before", served.backend), ("after", f"run-{run_id}"))}
        session.commit()
    for job_id in jobs.values():
        run_job(job_id)
    with get_sessionmaker()() as session:
        for side, job_id in jobs.items():
            job = session.get(Job, job_id)
            assert job.status == JobStatus.succeeded, job.error
            assert (job.result["answerable"], job.result["unanswerable"]) == (1, 1)
            assert job.result["side"] == side and job.result["for_run"] == run_id
            assert job.result["answered"] in (0, 1) and job.result["refused"] in (0, 1)
            assert job.result["answered_share"] == job.result["answered"]
    from app.grounded.before_after import before_after

    with get_sessionmaker()() as session:
        found = before_after(session, session.get(TuningRun, run_id))
        assert {side: job.id for side, job in found.items()} == jobs  # what the run page shows
