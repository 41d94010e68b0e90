"""The evaluation REST API and pages: sets frozen from a filter, benchmark uploads naming malformed lines,
human comparisons (refused without answers, results per criterion), and the evaluation page."""

from __future__ import annotations

from app.models import (
    Candidate,
    ComparisonItem,
    EvaluationAnswer,
    EvaluationSet,
    HumanVerdict,
    Instruction,
    Project,
    VerdictStatus,
)
from tests.conftest import login


def _project(db) -> Project:
    project = Project(name="Api evals", slug="api-evals")
    db.add(project)
    db.flush()
    for i in range(3):
        inst = Instruction(project_id=project.id, instruction=f"Q{i}", content_hash=f"q{i}", source="seed")
        db.add(inst)
        db.flush()
        db.add(Candidate(instruction_id=inst.id, text=f"reference {i}", origin="reference"))
    db.flush()
    return project


def test_sets_benchmarks_and_comparisons_through_the_api(client, db, make_user, token_for):
    project = _project(db)
    admin = make_user("admin")
    headers = token_for(admin)
    resp = client.post("/api/v1/projects/api-evals/evaluation-sets", headers=headers,
                       json={"name": "seed-set", "filter": {"source": ["seed"]}})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["size"], resp.json()["references"]) == (3, 3) and len(resp.json()["sha256"]) == 64
    again = client.post("/api/v1/projects/api-evals/evaluation-sets", headers=headers,
                        json={"name": "seed-set", "filter": {}})
    assert again.status_code == 409 and "already has an evaluation set" in again.json()["error"]["message"]
    detail = client.get("/api/v1/projects/api-evals/evaluation-sets/seed-set", headers=headers).json()
    assert [m["reference"] for m in detail["items"]] == ["reference 0", "reference 1", "reference 2"]
    assert all(i.evaluation_only for i in db.query(Instruction).filter_by(project_id=project.id))

    resp = client.post("/api/v1/projects/api-evals/benchmarks", headers=headers, json={"name": "mc", "rows": [
        {"question": "ok?", "choices": ["yes", "no"], "answer": 0}, {"question": "bad", "choices": "yes"}]})
    assert resp.status_code == 201
    assert resp.json()["problems"] == [{"line": 2, "message": "'choices' must be a list of at least two strings"}]

    body = {"evaluation_set": "seed-set", "model_a": "tuned", "model_b": "base"}
    refused = client.post("/api/v1/projects/api-evals/comparisons", headers=headers, json=body)
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["field"] == "model_a"
    found = db.query(EvaluationSet).filter_by(project_id=project.id).one()
    for member in found.items:
        for model in ("tuned", "base"):
            db.add(EvaluationAnswer(set_id=found.id, model=model, instruction_id=member["instruction_id"],
                                    text=f"{model} answer"))
    db.flush()
    custom = {**body, "criteria": [{"key": "concise", "label": "Concision"}], "overlap": 2}
    made = client.post("/api/v1/projects/api-evals/comparisons", headers=headers, json=custom)
    assert made.status_code == 201, made.text
    comparison_id = made.json()["id"]
    annotator = make_user("annotator")
    for n, item in enumerate(db.query(ComparisonItem).filter_by(comparison_id=comparison_id)):
        db.add(HumanVerdict(item_id=item.id, comparison_id=comparison_id, user_id=annotator.id,
                            status=VerdictStatus.submitted, overall="a" if n < 2 else "tie",
                            criteria={"concise": "b"}))
    db.flush()
    results = client.get(f"/api/v1/comparisons/{comparison_id}", headers=headers).json()["results"]
    assert (results["pairs"], results["needed"], results["verdicts"]) == (3, 6, 3)
    assert results["overall"]["win_rate"] == round((2 + 0.5) / 3, 6)
    assert results["criteria"]["concise"]["win_rate"] == 0.0

    annotator_headers = token_for(annotator)
    assert client.post("/api/v1/projects/api-evals/evaluation-sets", headers=annotator_headers,
                       json={"name": "x", "filter": {}}).status_code == 403

    login(client, admin.email)
    page = client.get("/projects/api-evals/evaluation")
    assert page.status_code == 200 and "seed-set" in page.text and "line 2: &#39;choices&#39; must be" in page.text
    assert "tuned vs base" in page.text


def test_the_new_job_form_draws_every_evaluation_kind(client, db, make_user):
    _project(db)
    admin = make_user("admin")
    login(client, admin.email)
    for kind, field in (("judge", "judge"), ("reference-metrics", "metrics"), ("benchmark", "task"),
                        ("reward-rank", "reward_run")):
        page = client.get(f"/jobs/new?project=api-evals&kind={kind}")
        assert page.status_code == 200 and f'name="{field}"' in page.text, kind
        if kind == "benchmark":  # the scorer is a choice: built-in, lm-evaluation-harness, or both
            assert 'name="runner"' in page.text and 'value="lm-eval"' in page.text and 'name="tokenizer"' in page.text


def test_the_user_oriented_set_is_built_from_the_shared_file(db, shared_data):
    from app.evaluation.sets import build_user_oriented

    project = Project(name="Uo", slug="uo")
    db.add(project)
    db.flush()
    path = shared_data / "self-instruct" / "user_oriented_instructions.jsonl"
    made = build_user_oriented(db, project=project, path=path)
    assert (made.name, made.size, made.references) == ("user-oriented-252", 252, 252)
    assert made.items[0]["instruction"] and made.items[0]["reference"]
    assert db.query(Instruction).filter_by(project_id=project.id, evaluation_only=False).count() == 0
