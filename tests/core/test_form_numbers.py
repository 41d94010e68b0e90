"""Issue 10: a number beyond 64 bits in any form answers 422 naming the field (beside it, in the label's words,
with what was typed kept where the form has an input for it), never 500. REST bodies are fuzzed by schemathesis
(tests/reliability/test_schemathesis.py); these are the browser forms."""

from __future__ import annotations

import json
import re

from app.models import Annotation, RunState
from tests.conftest import csrf_from, login
from tests.review.conftest import annotate, make_instruction  # noqa: F401
from tests.review.conftest import make_project as review_project  # noqa: F401
from tests.tuning.conftest import make_project, make_snapshot

HUGE = str(2**70)


def _beside(html: str, name: str) -> str:
    """The inline error shown for input `name`."""
    found = re.search(rf'data-error="{name}">([^<]+)<', html)
    assert found, f"no error beside {name}"
    return found[1]


def _admin(client, db, make_user):
    admin = make_user("admin")
    db.commit()
    login(client, admin.email)
    return admin, csrf_from(client)


def test_new_run_form(client, db, make_user):
    project = make_project(db)
    export = make_snapshot(db, project)
    _admin_user, token = _admin(client, db, make_user)
    numbers = ["max_steps", "seed", "save_steps", "logging_steps", "per_device_train_batch_size",
               "gradient_accumulation_steps", "max_length", "num_train_epochs", "learning_rate", "beta",
               "warmup_ratio", "lora_r", "lora_alpha", "lora_dropout", "eval_samples"]
    resp = client.post("/runs/new", data={"csrftoken": token, "export": f"{project.slug}:{export.id}",
                                          "base_model": "/m", "method": "sft-lora", **{n: HUGE for n in numbers}})
    assert resp.status_code == 422
    assert _beside(resp.text, "max_steps") == "must be at most 100,000,000"
    assert _beside(resp.text, "seed") == "must be at most 4,294,967,295"
    for name in numbers:
        _beside(resp.text, name)
        assert f'name="{name}" type="number" step="' in resp.text and f'value="{HUGE}"' in resp.text
    assert "hyperparameters." not in resp.text  # no internal paths, the labels' own words
    tampered = client.post("/runs/new", data={"csrftoken": token, "export": f"{project.slug}:{HUGE}",
                                              "base_model": "/m"})
    assert tampered.status_code == 422 and _beside(tampered.text, "export")


def test_generate_form_on_the_run_page(client, db, make_user):
    from app.tuning.schemas import TuningRunCreate
    from app.tuning.service import create_run

    project = make_project(db)
    export = make_snapshot(db, project, evaluation=0)
    admin, token = _admin(client, db, make_user)
    run = create_run(db, user=admin, data=TuningRunCreate(project=project.slug, export_id=export.id, base_model="/m"))
    run.state = RunState.succeeded
    db.commit()
    assert 'data-testid="eval-skipped"' in client.get(f"/runs/{run.id}").text  # evaluation on, no eval split
    resp = client.post(f"/runs/{run.id}/generate", data={"csrftoken": token, "n": HUGE, "max_candidates": HUGE,
                                                         "limit": "abc"})
    assert resp.status_code == 422
    assert _beside(resp.text, "n") == "must be at most 16"
    assert _beside(resp.text, "max_candidates") == "must be at most 1000"
    assert _beside(resp.text, "limit") == "must be a whole number"
    assert f'name="n" type="number" min="1" max="16" value="{HUGE}"' in resp.text and 'value="abc"' in resp.text


def test_export_project_and_admin_forms(client, db, make_user):
    project = make_project(db)
    _admin_user, token = _admin(client, db, make_user)
    export = client.post("/exports", data={"csrftoken": token, "project": project.slug, "format": "sft-messages",
                                           "seed": HUGE, "eval_fraction": HUGE, "annotator_id": HUGE})
    assert export.status_code == 422
    for name in ("seed", "eval_fraction", "annotator_id"):
        assert re.search(r'class="form-error">[^<]*must be', export.text.split(f'name="{name}"')[1])
    new = client.post("/admin/projects/new", data={"csrftoken": token, "name": "Bounds", "min_submitted": HUGE,
                                                   "reservation_minutes": HUGE, "auto_approve": "on",
                                                   "min_annotations": HUGE, "min_top1_agreement": HUGE})
    assert new.status_code == 422
    for name, bound in (("min_submitted", 20), ("reservation_minutes", 1440), ("min_annotations", 20),
                        ("min_top1_agreement", 1)):
        assert re.search(rf'id="err-{name}">must be at most {bound}<', new.text), name
        assert f'name="{name}"' in new.text and HUGE in new.text
    assert client.post("/admin/tokens", data={"csrftoken": token, "user_id": HUGE}).status_code == 422
    bulk = client.post("/admin/instructions/bulk", data={"csrftoken": token, "action": "delete", "ids": [HUGE]})
    assert bulk.status_code == 422 and "ids" in bulk.text
    browse = client.get("/admin/instructions", params={"annotator": HUGE, "after": HUGE})
    assert browse.status_code == 422 and "Choose an annotator from the list." in browse.text
    for path in (f"/admin/users/{HUGE}/role", f"/admin/imports/{HUGE}/undo", f"/runs/{HUGE}/cancel"):
        assert client.post(path, data={"csrftoken": token, "role": "admin"}).status_code == 422, path


def test_review_and_annotation_forms(client, db, make_user, review_project, make_instruction, annotate):  # noqa: F811
    project = review_project()
    inst = make_instruction(project)
    ids = [c.id for c in inst.candidates]
    annotator = make_user()
    annotate(inst, annotator, ranking=ids)
    _admin_user, token = _admin(client, db, make_user)
    review = client.get("/review", params={"annotator": HUGE, "after": HUGE})
    assert review.status_code == 422 and "is out of range" in review.text
    for path, data in ((f"/review/{inst.id}/accept", {"annotation_id": HUGE}),
                       (f"/review/{inst.id}/approve", {"ranking": [HUGE], "final_response": "x"}),
                       (f"/review/{inst.id}/approve", {"ranking": [ids[0]], "tied": [HUGE], "final_response": "x"})):
        resp = client.post(path, data={"csrftoken": token, **data})
        assert resp.status_code == 422 and ("annotation_id" in resp.text or "ranking" in resp.text
                                            or "tied" in resp.text), path
    # The task page's own form: the ranking, the corrected candidate and the ratings are numbers too.
    client.post("/logout", headers={"X-CSRFToken": token})
    login(client, make_user().email)
    page = client.get(f"/projects/{project.slug}/annotate")
    task = int(re.search(r'data-annotation="(\d+)"', page.text)[1])
    token = csrf_from(client)
    for data in ({"ranking": json.dumps([int(HUGE)])}, {"correction_mode": "edit", "corrected_candidate_id": HUGE,
                                                        "correction": "x"}, {f"rating_{ids[0]}": HUGE}):
        for action in ("submit", "draft"):
            resp = client.post(f"/annotations/{task}/{action}", data={"csrftoken": token, **data})
            assert resp.status_code == 422, (action, data, resp.text[:300])
    assert db.get(Annotation, task).ranking == []
