"""An ablation's evaluation on an evaluation set: refused when the set is unknown, and once every arm has trained,
one judge job and one ROUGE-L job over all the arms' tuned models (the first arm the judge's baseline)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.errors import ValidationFailed
from app.curation import ablations, subsets
from app.curation.ablation_schemas import AblationCreate
from app.evaluation.sets import create_set
from app.instructions.selection import InstructionFilter
from app.models import Backend, Export, ExportStatus, Job, Project, RunState, TuningRun
from tests.exports.conftest import add_approved


def _project(db, make_user):
    admin = make_user("admin")
    project = Project(name="Arms", slug="arms")
    db.add(project)
    db.flush()
    train = [add_approved(db, project, instruction=f"Task {i}", candidates=[f"Answer {i}"])[0].id for i in range(6)]
    _, (answer,), _ = add_approved(db, project, instruction="Held out task", candidates=["Held out answer"],
                                   source="heldout")
    answer.origin = "reference"  # the set's reference answer
    create_set(db, project=project, name="heldout", rules=InstructionFilter(source=["heldout"]))
    subsets.add_members(db, project_id=project.id, name="best", instruction_ids=train[:2], scores=[None, None],
                        job_id=None, meta={})
    db.add(Backend(name="judge", kind="openai", base_url="http://127.0.0.1:9/v1", model="j"))
    db.flush()
    return admin, project


def test_an_unknown_evaluation_set_is_named(db, make_user):
    admin, project = _project(db, make_user)
    body = {"base_model": "/m", "arms": [{"data": "subset", "subset": "best"}, {"data": "whole"}],
            "evaluation": {"evaluation_set": "nope"}}
    with pytest.raises(ValidationFailed) as caught:
        ablations.create(db, slug=project.slug, data=AblationCreate.model_validate(body), user=admin)
    assert caught.value.details[0]["field"] == "evaluation.evaluation_set"
    assert "There is no evaluation set 'nope'. Sets: heldout." in caught.value.message


def test_finished_arms_start_one_judge_and_one_rouge_job_over_every_tuned_model(db, make_user):
    admin, project = _project(db, make_user)
    body = {"base_model": "/m", "arms": [{"data": "subset", "subset": "best"}, {"data": "whole"}],
            "evaluation": {"evaluation_set": "heldout", "judge": "judge", "max_tokens": 32}}
    # No approved eval-split instruction: the evaluation set alone measures the arms.
    ablation = ablations.create(db, slug=project.slug, data=AblationCreate.model_validate(body), user=admin)
    assert ablations.step(db, ablation.id) is False
    run_ids = []
    for arm in ablation.arms:
        assert arm["state"] == "exporting", arm.get("error")
        export = db.get(Export, arm["export_id"])
        assert export.options["filters"] == {"subset": f"ablation-{ablation.id}-{len(run_ids) + 1}-data"}
        # What the worker does next: the export and then the run succeed.
        export.status, export.row_counts = ExportStatus.succeeded, {"train": 2}
        run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", base_model="/m",
                        state=RunState.succeeded)
        db.add(run)
        db.flush()
        arm.update(state="training", run_id=run.id)
        run_ids.append(run.id)
    assert ablations.step(db, ablation.id) is False  # the arms are done; the evaluation has just started
    jobs = ablation.evaluation["jobs"]
    judge, rouge = db.get(Job, jobs["judge"]), db.get(Job, jobs["reference-metrics"])
    models = [f"run-{i}" for i in run_ids]
    assert judge.params["models"] == models and judge.params["baseline"] == models[0]
    assert judge.params["judge"] == "judge" and judge.params["evaluation_set"] == "heldout"
    assert rouge.params["models"] == models and rouge.params["max_tokens"] == 32
    assert ablation.status.value == "running"
    assert db.scalar(select(Job.id).where(Job.kind == "judge")) == judge.id  # started once
    assert ablations.step(db, ablation.id) is False and ablation.evaluation["jobs"] == jobs


def test_an_evaluation_that_cannot_start_is_said_and_the_loss_table_still_stands(db, make_user):
    admin, project = _project(db, make_user)
    add_approved(db, project, instruction="Eval task", candidates=["Eval answer"], split="eval")
    add_approved(db, project, instruction="No reference", candidates=["Some answer"], source="noref")
    create_set(db, project=project, name="noref", rules=InstructionFilter(source=["noref"]))
    body = {"base_model": "/m", "arms": [{"data": "subset", "subset": "best"}, {"data": "whole"}],
            "evaluation": {"evaluation_set": "noref"}}
    ablation = ablations.create(db, slug=project.slug, data=AblationCreate.model_validate(body), user=admin)
    ablations.step(db, ablation.id)
    for arm in ablation.arms:
        db.get(Export, arm["export_id"]).status = ExportStatus.succeeded
        run = TuningRun(project_id=project.id, export_id=arm["export_id"], method="sft-lora", base_model="/m",
                        state=RunState.succeeded, evaluation={"loss_after": 1.0, "losses_after": [1.0, 1.0]})
        db.add(run)
        db.flush()
        arm.update(state="training", run_id=run.id)
    assert ablations.step(db, ablation.id) is True
    assert ablation.status.value == "succeeded" and ablation.evaluation["jobs"] == {}
    assert "reference-metrics: Evaluation set 'noref' has no reference answers" in ablation.error
    assert [a["result"]["loss_after"] for a in ablation.arms] == [1.0, 1.0]
