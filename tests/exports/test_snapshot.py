"""Snapshots on both databases: file contents, split guarantees, filters, dedupe, identity, atomicity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from app.exports.schemas import ExportCreate
from app.exports.snapshot import ExportFailed, Spec, build_snapshot
from app.models import Annotation, AnnotationStatus
from tests.exports.conftest import add_approved, add_project, seed_mixed

_ids = iter(range(1, 10_000))


def build(db, project, root: Path, fmt: str, version: int | None = None, **opts):
    options = ExportCreate(format=fmt, **opts).options()
    spec = Spec(next(_ids), project.id, project.slug, version or next(_ids), fmt, options)
    return build_snapshot(db.connection(), spec, root, provenance={"test": True})


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sft_messages_files_manifest_and_approvals(db, project, tmp_path):
    seed_mixed(db, project)
    result = build(db, project, tmp_path, "sft-messages")
    rows = lines(result.path / "train.jsonl")
    assert all(r["messages"][-1]["role"] == "assistant" for r in rows)
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["snapshot_sha256"] == result.sha256
    assert manifest["content"]["row_counts"] == result.row_counts
    names = {f["name"] for f in manifest["content"]["files"]}
    assert names == {"train.jsonl", "eval.jsonl", "approval_ids.txt"}
    ids = (result.path / "approval_ids.txt").read_text().split()
    assert len(ids) == result.row_counts["train"] + result.row_counts["eval"]
    multi = [r for r in rows if r["messages"][0]["role"] == "system"]
    assert [m["content"] for m in multi[0]["messages"]] == ["Be brief.", "Hi", "Hello!", "And then?", "More"]
    assert not any(p.name.startswith(".tmp-") for p in result.path.parent.iterdir())


def test_eval_and_holdout_never_reach_train(db, project, tmp_path):
    seed_mixed(db, project, n=30)
    by_split = {}
    from app.models import Instruction

    for inst in db.query(Instruction).filter_by(project_id=project.id):
        by_split.setdefault(inst.split.value, set()).add(inst.instruction)
    result = build(db, project, tmp_path, "sft-alpaca", eval_fraction=0.3, seed=7)
    train = {r["instruction"] for r in json.loads((result.path / "train.json").read_text())}
    evals = {r["instruction"] for r in json.loads((result.path / "eval.json").read_text())}
    assert not train & (by_split["eval"] | by_split["holdout"])
    assert by_split["eval"] <= evals
    assert not evals & by_split["holdout"]
    assert evals - by_split["eval"], "the eval fraction moved some train instructions to eval"
    with_holdout = build(db, project, tmp_path, "sft-alpaca", include_holdout=True)
    holdout = {r["instruction"] for r in json.loads((with_holdout.path / "holdout.json").read_text())}
    assert holdout == by_split["holdout"]
    train2 = {r["instruction"] for r in json.loads((with_holdout.path / "train.json").read_text())}
    assert not train2 & holdout


def test_same_data_and_options_give_identical_bytes(db, project, tmp_path):
    seed_mixed(db, project, n=20)
    for fmt, extra in [("preference", {}), ("kto", {"file_format": "parquet"}), ("sharegpt", {})]:
        a = build(db, project, tmp_path, fmt, eval_fraction=0.25, seed=3, **extra)
        b = build(db, project, tmp_path, fmt, eval_fraction=0.25, seed=3, **extra)
        assert a.sha256 == b.sha256 and a.files == b.files
        for f in a.files:
            assert (a.path / f["name"]).read_bytes() == (b.path / f["name"]).read_bytes()
        other_seed = build(db, project, tmp_path, fmt, eval_fraction=0.25, seed=4, **extra)
        assert other_seed.sha256 != a.sha256


def test_preference_pairs_exclude_all_bad_and_count_correction_best(db, project, tmp_path):
    seed_mixed(db, project, n=3)
    result = build(db, project, tmp_path, "preference", preference_style="conversational")
    rows = lines(result.path / "train.jsonl")
    prompts = [r["prompt"][-1]["content"] for r in rows]
    assert "All bad here" not in prompts
    haiku = [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows
             if r["prompt"][-1]["content"] == "Write a haiku"]
    assert haiku == [("A corrected haiku", "a"), ("A corrected haiku", "b"), ("A corrected haiku", "c"),
                     ("a", "b"), ("a", "c")]


def test_filters_and_dedupe(db, project, make_user, tmp_path):
    old = datetime.now(UTC) - timedelta(days=10)
    add_approved(db, project, instruction="dup", candidates=["same"], source="web", approved_at=old)
    add_approved(db, project, instruction="dup", candidates=["same"], source="web", meta={"k": "v"})
    inst, _c, _a = add_approved(db, project, instruction="mine", candidates=["x"], source="seed", meta={"k": "v"})
    annotator = make_user("annotator")
    db.add(Annotation(instruction_id=inst.id, user_id=annotator.id, status=AnnotationStatus.submitted))
    db.flush()
    deduped = build(db, project, tmp_path, "sft-messages")
    assert deduped.row_counts["train"] == 2
    assert json.loads((deduped.path / "manifest.json").read_text())["content"]["duplicates_removed"] == 1
    assert build(db, project, tmp_path, "sft-messages", dedupe=False).row_counts["train"] == 3
    assert build(db, project, tmp_path, "sft-messages", filters={"source": ["seed"]}).row_counts["train"] == 1
    assert build(db, project, tmp_path, "sft-messages", dedupe=False,
                 filters={"metadata": {"k": "v"}}).row_counts["train"] == 2
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert build(db, project, tmp_path, "sft-messages", dedupe=False,
                 filters={"approved_since": since}).row_counts["train"] == 2
    only = build(db, project, tmp_path, "sft-messages", filters={"annotator_id": annotator.id})
    assert [r["messages"][0]["content"] for r in lines(only.path / "train.jsonl")] == ["mine"]
    with pytest.raises(ExportFailed, match="No approved instructions"):
        build(db, project, tmp_path, "sft-messages", filters={"source": ["nowhere"]})
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / project.slug).iterdir())


def test_parquet_matches_jsonl(db, project, tmp_path):
    seed_mixed(db, project, n=6)
    for fmt in ("sft-messages", "preference", "kto"):
        js = build(db, project, tmp_path, fmt)
        pa_ = build(db, project, tmp_path, fmt, file_format="parquet")
        assert pq.read_table(pa_.path / "train.parquet").to_pylist() == lines(js.path / "train.jsonl")


def test_a_failure_mid_write_leaves_nothing_visible(db, project, tmp_path, monkeypatch):
    seed_mixed(db, project, n=4)
    from app.exports import snapshot

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(snapshot.manifest_mod, "write", boom)
    with pytest.raises(OSError, match="disk full"):
        build(db, project, tmp_path, "kto")
    assert list((tmp_path / project.slug).iterdir()) == []


def test_other_projects_are_not_exported(db, project, tmp_path):
    seed_mixed(db, project, n=2)
    other = add_project(db)
    add_approved(db, other, instruction="elsewhere")
    result = build(db, project, tmp_path, "sharegpt")
    assert "elsewhere" not in (result.path / "train.jsonl").read_text()
