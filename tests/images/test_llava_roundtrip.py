"""LLaVA JSON with images: import, approve, export, and get the same bytes back (JSON and image folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.exports.schemas import ExportCreate
from app.exports.snapshot import Spec, build_snapshot
from app.imports.files import ImportFailed
from app.imports.service import import_file
from app.models import Instruction, Project
from app.review.service import approve
from tests.images.llava_files import ROWS, write_llava


def _approve_references(db, project: Project) -> None:
    for inst in db.scalars(select(Instruction).where(Instruction.project_id == project.id).order_by(Instruction.id)):
        approve(db, instruction=inst, by=None, final_response=inst.candidates[0].text)


def _export(db, project: Project, root: Path, fmt: str, version: int):
    options = ExportCreate(format=fmt).options()
    return build_snapshot(db.connection(), Spec(version, project.id, project.slug, version, fmt, options), root,
                          provenance={"test": True})


@pytest.fixture
def project(db) -> Project:
    project = Project(name="LLaVA", slug="llava-rt")
    db.add(project)
    db.flush()
    return project


def test_llava_json_round_trips_byte_for_byte(db, project, tmp_path):
    source = write_llava(tmp_path / "data")
    result = import_file(db, project=project, path=source, fmt="auto")
    assert (result.format, result.created) == ("llava", 4)
    _approve_references(db, project)
    snapshot = _export(db, project, tmp_path / "exports", "llava", 1)
    assert (snapshot.path / "train.json").read_bytes() == source.read_bytes()
    for name in ("coco/000000033471.jpg", "coco/000000052846.png"):
        assert (snapshot.path / "images" / name).read_bytes() == (source.parent / name).read_bytes()
    manifest = json.loads((snapshot.path / "manifest.json").read_text())
    names = {f["name"] for f in manifest["content"]["files"]}
    assert {"train.json", "images/coco/000000033471.jpg", "images/coco/000000052846.png"} <= names
    # The same export again is the same snapshot.
    assert _export(db, project, tmp_path / "exports", "llava", 2).sha256 == snapshot.sha256


def test_messages_plus_images_for_trl_and_llama_factory(db, project, tmp_path):
    source = write_llava(tmp_path / "data")
    import_file(db, project=project, path=source, fmt="llava")
    _approve_references(db, project)
    snapshot = _export(db, project, tmp_path / "exports", "vision-messages", 3)
    rows = [json.loads(line) for line in (snapshot.path / "train.jsonl").read_text().splitlines()]
    assert rows[0]["images"] == ["images/coco/000000033471.jpg"]
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant", "user", "assistant"]
    assert rows[0]["messages"][0]["content"] == ROWS[0]["conversations"][0]["value"]
    assert rows[2]["images"] == [] and len(rows[3]["images"]) == 2
    assert all((snapshot.path / p).is_file() for row in rows for p in row["images"])


BAD_ROWS = [
    ({"id": "x", "image": "../outside.png", "conversations": [
        {"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}]}, "may not contain '..'"),
    ({"id": "x", "image": "coco/000000033471.jpg", "conversations": [
        {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A <image>"}]}, "not in an assistant turn"),
    ({"id": "x", "image": "coco/000000033471.jpg", "conversations": [
        {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"},
        {"from": "human", "value": "<image>\nQ2"}, {"from": "gpt", "value": "A2"}]}, "it holds 0"),
    ({"id": "x", "image": "coco/missing.jpg", "conversations": [
        {"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}]}, "no image file"),
    ({"id": "x", "conversations": [
        {"from": "human", "value": "Q"}, {"from": "human", "value": "Q again"}]}, "must alternate"),
]


def test_bad_llava_rows_are_refused_naming_file_and_line(db, project, tmp_path):
    for n, (row, message) in enumerate(BAD_ROWS):
        source = write_llava(tmp_path / f"data-{n}", rows=[ROWS[2], row])
        with pytest.raises(ImportFailed) as caught:
            import_file(db, project=project, path=source, fmt="llava")
        assert message in caught.value.message and f"{source}:2:" in caught.value.message
