"""The importer on every shared data file, the other formats, bad lines, and the CLI."""

from __future__ import annotations

import gzip
import itertools
from collections import Counter

import orjson
import pytest
from sqlalchemy import func, select

from app.imports.files import ImportFailed
from app.imports.service import import_file
from app.models import Candidate, Instruction
from app.projects.schemas import ProjectCreate
from app.projects.service import create_project

MODELS = {"davinci", "text-davinci-001", "text-davinci-002", "davinci-superni-ft", "davinci-t0-ft"}


@pytest.fixture
def project(db):
    made = create_project(db, data=ProjectCreate(name="Imported"), by=None)
    db.flush()
    return made


def _candidates(db, project) -> dict[int, list[tuple[str, str, str]]]:
    rows = db.execute(select(Candidate.instruction_id, Candidate.origin, Candidate.model, Candidate.text)
                      .join(Instruction).where(Instruction.project_id == project.id))
    out: dict[int, list] = {}
    for iid, origin, model, text in rows:
        out.setdefault(iid, []).append((str(origin), model, text))
    return out


def test_user_oriented_tasks_then_five_prediction_files(db, project, shared_data):
    base = shared_data / "self-instruct"
    done = import_file(db, project=project, path=base / "user_oriented_instructions.jsonl")
    assert (done.rows, done.created, done.format) == (252, 252, "self-instruct")
    for path in sorted((base / "predictions").glob("*.jsonl")):
        result = import_file(db, project=project, path=path)
        assert (result.rows, result.created, result.updated) == (252, 0, 252), path.name
    per_instruction = _candidates(db, project)
    assert len(per_instruction) == 252
    for cands in per_instruction.values():
        assert Counter(origin for origin, _, _ in cands) == {"imported": 5, "reference": 1}
        assert {model for origin, model, _ in cands if origin == "imported"} == MODELS
    first = db.scalar(select(Instruction).where(Instruction.project_id == project.id,
                                                Instruction.external_id == "user_oriented_task_0"))
    assert first.meta == {"motivation_app": "Grammarly"}
    assert first.input.startswith("If you have any questions about my rate")
    # Importing a file again changes nothing.
    again = import_file(db, project=project, path=base / "predictions" / "davinci.jsonl")
    assert (again.updated, again.unchanged) == (0, 252)
    assert import_file(db, project=project, path=base / "user_oriented_instructions.jsonl").unchanged == 252
    assert db.scalar(select(func.count()).select_from(Candidate).join(Instruction)
                     .where(Instruction.project_id == project.id)) == 252 * 6


def test_seed_tasks_become_instructions_with_reference_candidates(db, project, shared_data):
    done = import_file(db, project=project, path=shared_data / "self-instruct" / "seed_tasks.jsonl")
    assert (done.rows, done.created) == (175, 175)
    per_instruction = _candidates(db, project)
    assert len(per_instruction) == 175
    assert all(c == [("reference", "", c[0][2])] for c in per_instruction.values())
    task = db.scalar(select(Instruction).where(Instruction.external_id == "seed_task_0",
                                               Instruction.project_id == project.id))
    assert task.meta == {"name": "breakfast_suggestion", "is_classification": False}
    assert task.source == "seed_tasks"
    classification = db.scalar(select(func.count()).select_from(Instruction).where(
        Instruction.project_id == project.id, Instruction.meta["is_classification"].as_boolean()))
    assert classification == 26


def test_t0_slice_from_a_gzip(db, project, shared_data, tmp_path):
    slice_path = tmp_path / "t0_slice.jsonl.gz"
    with gzip.open(shared_data / "t0-train-50k" / "t0_train_50k.jsonl.gz", "rb") as src, \
            gzip.open(slice_path, "wb") as dst:
        lines = list(itertools.islice(src, 1500))
        dst.writelines(lines)
    rows = [orjson.loads(line) for line in lines]
    seen = []
    done = import_file(db, project=project, path=slice_path, progress=lambda n, total: seen.append((n, total)))
    distinct = {(r["prompt"], r["completion"].removesuffix("<|endoftext|>").rstrip(), r["template"]) for r in rows}
    assert done.format == "prompt-completion" and done.rows == 1500
    assert done.created == len(distinct) and done.created + done.unchanged == 1500
    assert seen[0] == (0, 1500) and seen[-1] == (1500, 1500)
    inst = db.scalar(select(Instruction).where(Instruction.project_id == project.id).order_by(Instruction.id))
    assert inst.instruction == rows[0]["prompt"] and inst.source == rows[0]["template"]
    cands = list(db.scalars(select(Candidate).join(Instruction).where(Instruction.project_id == project.id)))
    assert cands and not any(c.text.endswith("<|endoftext|>") for c in cands)
    assert {str(c.origin) for c in cands} == {"reference"}


def _write(path, rows, array=False):
    path.write_bytes(orjson.dumps(rows) if array else b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return path


def test_alpaca_messages_and_sharegpt(db, project, tmp_path):
    alpaca = _write(tmp_path / "alpaca.json", [
        {"instruction": "Give a synonym.", "input": "happy", "output": "glad"},
        {"instruction": "Name a colour.", "output": "", "category": "open"}], array=True)
    done = import_file(db, project=project, path=alpaca)
    assert (done.format, done.created) == ("alpaca", 2)
    messages = _write(tmp_path / "chat.jsonl", [{"id": "m1", "messages": [
        {"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "How are you?"},
        {"role": "assistant", "content": "Well, thanks."}]}])
    assert import_file(db, project=project, path=messages).format == "messages"
    chat = db.scalar(select(Instruction).where(Instruction.external_id == "m1"))
    assert chat.instruction == "How are you?" and chat.system == "Be kind."
    assert chat.history == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert [c.text for c in chat.candidates] == ["Well, thanks."]
    share = _write(tmp_path / "share.jsonl", [{"id": "s1", "conversations": [
        {"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"}]}])
    assert import_file(db, project=project, path=share, fmt="sharegpt").created == 1
    s1 = db.scalar(select(Instruction).where(Instruction.external_id == "s1"))
    assert (s1.instruction, [c.text for c in s1.candidates]) == ("What is 2+2?", ["4"])
    colour = db.scalar(select(Instruction).where(Instruction.instruction == "Name a colour."))
    assert colour.meta == {"category": "open"} and colour.candidates == []


def test_a_bad_line_names_file_and_line(db, project, tmp_path):
    bad = _write(tmp_path / "bad.jsonl", [{"prompt": "fine", "completion": "ok"}, {"prompt": "also", "completion": "x"},
                                          {"prompt": "   ", "completion": "y"}])
    with pytest.raises(ImportFailed) as caught:
        import_file(db, project=project, path=bad)
    assert caught.value.message == f"{bad}:3: instruction: must not be empty or only whitespace"
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b'{"prompt": "a", "completion": "b"}\n{"prompt": \n')
    with pytest.raises(ImportFailed, match=rf"{broken}:2: not valid JSON"):
        import_file(db, project=project, path=broken)
    wrong = _write(tmp_path / "wrong.jsonl", [{"instruction": "x", "messages": "nope"}])
    with pytest.raises(ImportFailed, match=r"wrong.jsonl:1: 'messages' must be a list"):
        import_file(db, project=project, path=wrong)
    with pytest.raises(ImportFailed, match="no such file"):
        import_file(db, project=project, path=tmp_path / "missing.jsonl")
    with pytest.raises(ImportFailed, match="unknown format"):
        import_file(db, project=project, path=bad, fmt="csv")
    dupes = _write(tmp_path / "dupes.jsonl", [{"id": "a", "instruction": "x"}, {"id": "a", "instruction": "y"}])
    with pytest.raises(ImportFailed, match=r"dupes.jsonl:2: external_id 'a' appears again \(first at line 1\)"):
        import_file(db, project=project, path=dupes)


def test_cli_imports_and_fails_clearly(live, tmp_path, shared_data):
    from typer.testing import CliRunner

    from app.cli import cli
    from app.core.db import get_sessionmaker

    with get_sessionmaker()() as session:
        create_project(session, data=ProjectCreate(name="Cli"), by=None)
        session.commit()
    runner = CliRunner()
    ok = runner.invoke(cli, ["import", str(shared_data / "self-instruct" / "seed_tasks.jsonl"), "--project", "cli"])
    assert ok.exit_code == 0, ok.output
    assert "imported 175 rows (self-instruct)" in ok.output and "175 created" in ok.output
    bad = _write(tmp_path / "bad.jsonl", [{"instruction": "fine"}, {"instruction": "tab\u0001"}])
    failed = runner.invoke(cli, ["import", str(bad), "--project", "cli", "--format", "alpaca"])
    assert failed.exit_code == 1
    assert f"{bad}:2: instruction: contains the control character U+0001" in failed.output
    assert runner.invoke(cli, ["import", str(bad), "--project", "nope"]).exit_code == 1
    assert runner.invoke(cli, ["import", str(tmp_path / "none.jsonl"), "--project", "cli"]).exit_code == 1
    assert runner.invoke(cli, ["import", str(bad), "--project", "cli", "--format", "xml"]).exit_code == 2
    with get_sessionmaker()() as session:
        # All or nothing: the bad file's good first line was not kept.
        assert session.scalar(select(func.count()).select_from(Instruction)) == 175
