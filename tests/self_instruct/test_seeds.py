"""Seed tasks from Self-Instruct's own file: what the importer keeps, what it refuses, and what a job seeds from."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from app.imports.files import ImportFailed
from app.imports.service import import_file
from app.instructions.selection import InstructionFilter
from app.models import Candidate, Instruction, Project
from app.self_instruct.runtime import load_seeds
from app.self_instruct.schemas import SelfInstructParams


@pytest.fixture
def project(db):
    row = Project(name="Seeds", slug="seeds")
    db.add(row)
    db.flush()
    return row


def test_the_175_seed_tasks_keep_name_flag_and_instances_and_seed_a_job(db, project, shared_data):
    import_file(db, project=project, path=shared_data / "self-instruct" / "seed_tasks.jsonl")
    task = db.scalar(select(Instruction).where(Instruction.external_id == "seed_task_1"))
    assert task.meta == {"name": "antonym_relation", "is_classification": False}
    assert (task.input, task.construction, task.evaluation_only) == ("Night : Day :: Right : Left", "human", False)
    assert [(c.origin, c.text) for c in task.candidates] == [
        ("reference", "The relation between the given pairs is that they are opposites.")]
    seeds = load_seeds(db, project.id, SelfInstructParams(backend="b"))
    assert len(seeds) == 175 and seeds[1].output.startswith("The relation between")
    assert len(load_seeds(db, project.id, SelfInstructParams(backend="b", classification_only=True))) == 26
    chosen = SelfInstructParams(backend="b", seeds=InstructionFilter(metadata={"name": "antonym_relation"}))
    assert [s.instruction for s in load_seeds(db, project.id, chosen)] == [task.instruction]


def test_user_oriented_tasks_marked_evaluation_only_never_seed(db, project, shared_data):
    path = shared_data / "self-instruct" / "user_oriented_instructions.jsonl"
    import_file(db, project=project, path=path)
    distinct = {orjson.loads(line)["instruction"] for line in path.read_bytes().splitlines()}
    assert len(load_seeds(db, project.id, SelfInstructParams(backend="b"))) == len(distinct)  # one per task text
    db.execute(Instruction.__table__.update().where(Instruction.project_id == project.id).values(evaluation_only=True))
    assert load_seeds(db, project.id, SelfInstructParams(backend="b")) == []


def test_a_seed_file_with_missing_or_mistyped_fields_is_refused_whole(db, project, tmp_path):
    good = {"id": "t1", "name": "colours", "instruction": "Name a colour.", "is_classification": False,
            "instances": [{"input": "", "output": "Blue"}]}
    cases = {
        "no_instances": ({k: v for k, v in good.items() if k != "instances"}, r":2: missing 'instances'"),
        "no_instruction": ({**good, "id": "t2", "instruction": None}, r":2: 'instruction' must be a string"),
        "flag_as_text": ({**good, "id": "t2", "is_classification": "yes"},
                         r":2: 'is_classification' must be true or false, not a string 'yes'"),
        "instances_text": ({**good, "id": "t2", "instances": "Blue"}, r":2: 'instances' must be a non-empty list"),
        "bad_instance": ({**good, "id": "t2", "instances": [{"input": 3, "output": "x"}]},
                         r":2: instances\[0\]\.input must be a string"),
    }
    for name, (bad, message) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(orjson.dumps(good) + b"\n" + orjson.dumps(bad) + b"\n")
        with pytest.raises(ImportFailed, match=message):
            import_file(db, project=project, path=path, fmt="self-instruct")
    assert db.scalar(select(func.count()).select_from(Instruction)) == 0
    assert db.scalar(select(func.count()).select_from(Candidate)) == 0
