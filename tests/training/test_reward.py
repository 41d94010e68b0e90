"""A reward model (TRL's RewardTrainer with LoRA) trains on the tiny model from preference pairs: its accuracy on
the training pairs rises; a reward-rank job scores a project's candidates with it through the app's scorer and
ranks the right answer above a wrong one."""

from __future__ import annotations

import pytest

from tests.training.conftest import by_event, run_cli, write_jsonl, write_spec


def _pairs(n: int) -> list[dict]:
    """The right sum preferred over a wrong one, the same length: nothing a random model would get by chance."""
    rows = []
    for i in range(n):
        a, b = (i * 7) % 20, (i * 3) % 20
        rows.append({"prompt": f"What is {a} plus {b}?", "chosen": f"{a} plus {b} is {a + b}.",
                     "rejected": f"{a} plus {b} is {a + b + 1 + i % 5}."})
    return rows


@pytest.fixture(scope="module")
def reward_run(tiny_model, tmp_path_factory):
    """One reward-model training run for the module: (its events, the adapter folder)."""
    tmp = tmp_path_factory.mktemp("reward")
    train = write_jsonl(tmp / "train.jsonl", _pairs(16))
    spec = write_spec(tmp / "spec.json", method="reward", data_format="preference", base_model=str(tiny_model),
                      output_dir=str(tmp / "run"), train_file=str(train), eval={"enabled": False},
                      hyperparameters={"max_steps": 24, "learning_rate": 1e-2, "save_steps": 50, "max_length": 64})
    code, events, stderr = run_cli("run", str(spec))
    assert code == 0, stderr[-3000:]
    return events, next(e["path"] for e in by_event(events, "artifact") if e["name"] == "adapter")


def test_reward_model_accuracy_on_the_training_pairs_rises(reward_run):
    events, _adapter = reward_run
    (result,) = by_event(events, "eval")
    assert result["pairs"] == 16
    # The head starts random (seeded, so the run is reproducible); training must beat where it started.
    assert result["accuracy_after"] > result["accuracy_before"] and result["accuracy_after"] >= 0.9, result
    assert result["margin_after"] > result["margin_before"] + 1.0, result  # chosen answers pulled well apart


def test_the_app_scores_with_it_and_ranks_a_projects_candidates(reward_run, tiny_model, sqlite_url, monkeypatch):
    from sqlalchemy import select

    from app.core.db import get_sessionmaker
    from app.models import Candidate, Instruction, JobStatus, Project, RunState, TuningRun
    from tests.conftest import _truncate_all, reset_app_caches
    from tests.evaluation.conftest import create, job_row

    _events, adapter = reward_run
    monkeypatch.setenv("TUNELOOP_DATABASE_URL", sqlite_url)
    reset_app_caches()
    try:
        from app.jobs.runner import run_job
        from app.users.service import create_user

        with get_sessionmaker()() as session:
            admin = create_user(session, email="rewarder@example.com", password="correct horse battery",
                                role="admin")
            project = Project(name="Reward", slug="reward-rank")
            session.add(project)
            session.flush()
            inst = Instruction(project_id=project.id, instruction="What is 7 plus 3?", content_hash="r1")
            session.add(inst)
            session.flush()
            session.add_all([Candidate(instruction_id=inst.id, text="7 plus 3 is 12.", origin="model"),
                             Candidate(instruction_id=inst.id, text="7 plus 3 is 10.", origin="model")])
            from app.models import Export

            export = Export(project_id=project.id, version=1, format="preference", status="succeeded")
            session.add(export)
            session.flush()
            saved = TuningRun(project_id=project.id, export_id=export.id, method="reward-lora",
                              base_model=str(tiny_model), state=RunState.succeeded,
                              artifacts=[{"name": "adapter", "path": adapter, "size_bytes": 1}])
            session.add(saved)
            session.commit()
            ids = {"admin": admin.id, "slug": project.slug, "run": saved.id, "instruction": inst.id}
        job_id = create(ids, "reward-rank", {"reward_run": ids["run"]})
        run_job(job_id)
        job = job_row(job_id)
        assert job.status == JobStatus.succeeded, job.error
        # The app's scorer ran the trained model: the right answer gets the higher reward.
        with get_sessionmaker()() as session:
            cands = session.scalars(select(Candidate).where(Candidate.instruction_id == ids["instruction"])
                                    .order_by(Candidate.id)).all()
            assert cands[1].meta["reward"] > cands[0].meta["reward"] and cands[0].meta["reward_run"] == ids["run"]
            assert cands[0].score is None  # imported scores are never overwritten
            # Curation sees the instruction's reward (its best response's): the page's reward column, rank_by reward.
            from app.models import CurationScore

            mark = session.scalar(select(CurationScore).where(CurationScore.instruction_id == ids["instruction"]))
            assert (mark.kind, mark.source) == ("reward", f"run-{ids['run']}")
            assert mark.score == round(cands[1].meta["reward"], 6)
    finally:
        reset_app_caches()
        _truncate_all(sqlite_url)
