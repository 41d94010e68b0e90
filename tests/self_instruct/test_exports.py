"""Training exports: Self-Instruct's seeded templates byte for byte, Alpaca's PROMPT_DICT, and evaluation-only
instructions never exported (left out and counted, or the export refused with the rows named)."""

from __future__ import annotations

import json

import pytest

from app.exports.schemas import ExportCreate
from app.self_instruct import encoding
from tests.exports.conftest import add_approved, add_project
from tests.exports.test_snapshot import build, lines


@pytest.fixture
def project(db):
    return add_project(db)


def _seed(db, project, n=40):
    for i in range(n):
        add_approved(db, project, instruction=f"Task {i}: name a colour.", input=f"hint {i}" if i % 2 else "",
                     candidates=[f"blue {i}", f"red {i}"], source="seed_tasks")


def test_prompt_completion_uses_the_original_templates_and_the_same_seed_gives_the_same_bytes(db, project, tmp_path):
    _seed(db, project)
    one = build(db, project, tmp_path / "a", "prompt-completion", seed=7)
    two = build(db, project, tmp_path / "b", "prompt-completion", seed=7)
    other = build(db, project, tmp_path / "c", "prompt-completion", seed=8)
    data = (one.path / "train.jsonl").read_bytes()
    assert data == (two.path / "train.jsonl").read_bytes() and one.sha256 == two.sha256
    assert data != (other.path / "train.jsonl").read_bytes()
    rows = lines(one.path / "train.jsonl")
    assert len(rows) == 40 and all(set(r) == {"prompt", "completion"} for r in rows)
    with_input = {p.format(instruction="Task 1: name a colour.", input="hint 1") for p, _ in encoding.WITH_INPUT}
    without = {p.format(instruction="Task 0: name a colour.") for p, _ in encoding.NO_INPUT}
    assert rows[1]["prompt"] in with_input and rows[0]["prompt"] in without
    assert all(r["completion"].endswith("<|endoftext|>") for r in rows)
    # Seeded across the 40 rows, most of the 13 templates appear.
    used = {r["prompt"].replace(str(i), "#") for i, r in enumerate(rows)}
    assert len(used) >= 8


def test_alpaca_prompt_dict(db, project, tmp_path):
    add_approved(db, project, instruction="Give a synonym.", input="happy", candidates=["glad", "sad"])
    add_approved(db, project, instruction="Name a colour.", candidates=["blue"])
    rows = lines(build(db, project, tmp_path, "alpaca-prompt").path / "train.jsonl")
    assert rows[0] == {"prompt": "Below is an instruction that describes a task, paired with an input that provides "
                                 "further context. Write a response that appropriately completes the request.\n\n"
                                 "### Instruction:\nGive a synonym.\n\n### Input:\nhappy\n\n### Response:",
                       "completion": "glad"}
    assert rows[1]["prompt"].endswith("### Instruction:\nName a colour.\n\n### Response:")


def test_evaluation_only_rows_are_left_out_and_counted(db, project, tmp_path):
    _seed(db, project, 4)
    kept, _, _ = add_approved(db, project, instruction="Rewrite the email politely.", source="user_oriented")
    kept.evaluation_only = True
    db.flush()
    for fmt in ("sft-alpaca", "sft-messages", "prompt-completion", "preference"):
        result = build(db, project, tmp_path / fmt, fmt)
        text = "".join(f.read_text() for f in result.path.iterdir() if f.suffix in (".json", ".jsonl")
                       and f.name != "manifest.json")
        assert "Rewrite the email" not in text, fmt
        manifest = json.loads((result.path / "manifest.json").read_text())["content"]
        assert manifest["evaluation_only_excluded"] == 1 and manifest["instructions_matched"] == 4


def test_an_export_that_names_evaluation_only_rows_is_refused_with_them(client, db, project, admin_headers):
    _seed(db, project, 2)
    for i in range(12):
        row, _, _ = add_approved(db, project, instruction=f"User task {i}", source="user_oriented")
        row.external_id = f"user_oriented_task_{i}"
    db.flush()
    marked = client.post(f"/api/v1/projects/{project.slug}/instructions/evaluation-only", headers=admin_headers,
                         json={"filter": {"source": ["user_oriented"]}})
    assert marked.status_code == 200 and marked.json() == {"updated": 12, "matched": 12, "evaluation_only": True}
    resp = client.post(f"/api/v1/projects/{project.slug}/exports", headers=admin_headers,
                       json={"format": "sft-messages", "filters": {"source": ["user_oriented", "seed_tasks"]}})
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert "select 12 evaluation-only instructions" in error["message"]
    assert "(user_oriented_task_0)" in error["message"] and "and 2 more" in error["message"]
    assert error["details"][0]["field"] == "filters.source"
    assert [r["external_id"] for r in error["details"][0]["rows"]] == [f"user_oriented_task_{i}" for i in range(12)]
    assert ExportCreate(format="sft-messages").options()["filters"] == {}


def test_evaluation_only_is_shown_patched_and_listed(client, db, project, admin_headers):
    row, _, _ = add_approved(db, project, instruction="Plan a trip.", source="user_oriented")
    db.expire_all()  # read back as the app reads it (split as its enum)
    resp = client.patch(f"/api/v1/instructions/{row.id}", headers=admin_headers, json={"evaluation_only": True})
    assert resp.status_code == 200 and resp.json()["evaluation_only"] is True
    listed = client.get(f"/api/v1/projects/{project.slug}/instructions", headers=admin_headers).json()
    assert listed["items"][0]["evaluation_only"] is True
    resp = client.post(f"/api/v1/projects/{project.slug}/instructions/evaluation-only", headers=admin_headers,
                       json={"filter": {}, "evaluation_only": False})
    assert resp.json() == {"updated": 1, "matched": 1, "evaluation_only": False}


def test_admin_marks_every_matching_instruction_from_the_browser(client, db, project, make_user):
    from sqlalchemy import select

    from app.models import Instruction
    from tests.conftest import login
    from tests.jobs.test_pages import _csrf

    admin = make_user("admin")
    _seed(db, project, 2)
    for i in range(3):
        add_approved(db, project, instruction=f"User task {i}", source="user_oriented")
    login(client, admin.email)
    page = client.get(f"/admin/instructions?project={project.slug}&source=user_oriented")
    assert 'id="eval-only-form"' in page.text
    resp = client.post("/admin/instructions/evaluation-only", data={
        "csrftoken": _csrf(page.text), "project": project.slug, "source": "user_oriented",
        "value": "evaluation_only"}, follow_redirects=True)
    assert resp.status_code == 200 and "3 instruction(s) are now evaluation-only" in resp.text
    assert resp.text.count("data-eval-only") == 3
    marked = db.scalars(select(Instruction.source).where(Instruction.evaluation_only.is_(True))).all()
    assert marked == ["user_oriented"] * 3
