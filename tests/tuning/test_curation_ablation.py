"""Curation (issue 17): an ablation of three arms (a curated subset, a random sample, the whole set) on a real
worker: each arm is exported, trains the tiny model, is evaluated on the same eval examples, and fills the table."""

from __future__ import annotations

import secrets
import time

import pytest

pytestmark = pytest.mark.training


def _seed() -> tuple[dict, str]:
    from app.core.db import get_sessionmaker
    from app.curation import subsets
    from app.models import Project
    from app.users.service import create_token, create_user
    from tests.exports.conftest import add_approved

    with get_sessionmaker()() as session:
        admin = create_user(session, email=f"abl-{secrets.token_hex(3)}@example.com", password="correct horse battery",
                            role="admin")
        session.flush()
        token = create_token(session, user=admin, name="t").secret
        project = Project(name="Ablate", slug=f"abl-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        train = []
        for i in range(12):
            inst, _, _ = add_approved(session, project, instruction=f"What is {i % 7} plus {i % 5}?",
                                      candidates=[f"{i % 7} plus {i % 5} is {i % 7 + i % 5}."])
            train.append(inst.id)
        for i in range(4):  # questions no training row asks (an export drops a row identical to an earlier one)
            add_approved(session, project, instruction=f"What is {i} times 3?", split="eval",
                         candidates=[f"{i} times 3 is {i * 3}."])
        subsets.add_members(session, project_id=project.id, name="best", instruction_ids=train[:4], scores=[None] * 4,
                            job_id=None, meta={"method": "score-first", "threshold": 0.9})
        session.commit()
        return {"Authorization": f"Bearer {token}"}, project.slug


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("broker_url", ["redis"], indirect=True)
def test_three_arms_train_the_tiny_model_and_fill_the_table(start_worker, tiny_model):
    from tests.tuning.livehelp import client

    headers, slug = _seed()
    worker = start_worker(queues="default,training")
    body = {"base_model": str(tiny_model), "name": "curated vs random vs all",
            "hyperparameters": {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64,
                                "learning_rate": 5e-3, "save_steps": 100},
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
            "arms": [{"data": "subset", "subset": "best"}, {"data": "random", "n": 4, "seed": 1},
                     {"data": "whole"}]}
    with client() as api:
        created = api.post(f"/api/v1/projects/{slug}/ablations", json=body, headers=headers)
        assert created.status_code == 202, created.text
        ablation_id = created.json()["id"]
        deadline, view = time.monotonic() + 540, {}
        while time.monotonic() < deadline:
            view = api.get(f"/api/v1/ablations/{ablation_id}", headers=headers).json()
            if view["status"] != "running":
                break
            time.sleep(1)
        arms = [(a["name"], a["state"], a.get("error"), a.get("export_id"), a.get("run_id")) for a in view["arms"]]
        assert view["status"] == "succeeded", (arms, view.get("error"), worker.output()[-3000:])
        table = view["table"]
        assert [r["state"] for r in table] == ["succeeded"] * 3
        assert [r["train_rows"] for r in table] == [4, 4, 12] and {r["eval_rows"] for r in table} == {4}
        for row in table:
            mean, low, high = row["ci"]
            assert low <= mean <= high and abs(mean - row["loss_after"]) < 0.05 * row["loss_after"]
            assert row["runtime_s"] > 0 and row["train_tokens"] > 0
        assert table[0]["delta"] is None and all(r["delta"] is not None for r in table[1:])
        assert sum(1 for r in table if r.get("best")) == 1
        page = api.get(f"/ablations/{ablation_id}", headers=headers)
        assert page.status_code == 200 and page.text.count("data-arm=") == 3
