"""Hostile files through every importer: each format and container, via `import_file`, `tuneloop import` and an
admin upload run by the worker's own task. Never a crash, never a job left running; a refusal names the line,
the field and what is wrong, and keeps nothing of the file (imports are all or nothing); odd Unicode in a
valid file is stored exactly as written.

Hypothesis builds the files (tests/reliability/hostile_files.py); TUNELOOP_HOSTILE_EXAMPLES sets how many per
property (25 here, far more in `make reliability`).
"""

from __future__ import annotations

import gzip
import os
import re
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import func, select

from app.imports import readers
from app.imports.files import ImportFailed
from app.imports.service import BATCH, import_file
from tests.reliability import hostile_files as hf

EXAMPLES = int(os.environ.get("TUNELOOP_HOSTILE_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_MESSAGE = 400  # beyond the file's path: a message quotes a value only in part


def counts(db, project_id: int) -> tuple[int, int]:
    from app.models import Candidate, Instruction

    n_inst = db.scalar(select(func.count()).select_from(Instruction).where(Instruction.project_id == project_id))
    n_cand = db.scalar(select(func.count()).select_from(Candidate).join(Instruction)
                       .where(Instruction.project_id == project_id))
    return n_inst, n_cand


@pytest.fixture
def project(db):
    from app.projects.schemas import ProjectCreate
    from app.projects.service import create_project

    made = create_project(db, data=ProjectCreate(name=f"Fuzz {secrets.token_hex(4)}"), by=None)
    db.flush()
    return made


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def attempt(db, project, path: Path, fmt: str = "auto") -> tuple[Any, Any]:
    """Import in a savepoint, as the CLI and the worker do in their transaction; (result or error, savepoint).

    Only ImportFailed may come out; on it the savepoint is rolled back and nothing of the file may remain.
    The caller rolls the savepoint back once it has looked, so every example starts from the same project.
    """
    before = counts(db, project.id)
    savepoint = db.begin_nested()
    try:
        result = import_file(db, project=project, path=path, fmt=fmt)
    except ImportFailed as exc:
        savepoint.rollback()
        assert counts(db, project.id) == before, f"a refused file left rows behind: {exc.message}"
        return exc, savepoint
    assert counts(db, project.id)[0] == before[0] + result.created, result
    return result, savepoint


def assert_clear(message: str, path: Path | str, bad: hf.Bad) -> None:
    """The refusal names the file and line, the field, and what is wrong, in a short printable message."""
    prefix = f"{path}:" if bad.line is None else f"{path}:{bad.line}: "
    assert message.startswith(prefix), (bad.kind, prefix, message[:500])
    if bad.names:
        assert any(name in message for name in bad.names), (bad.kind, bad.names, message[:500])
    assert re.search(bad.what, message), (bad.kind, bad.what, message[:500])
    assert len(message) <= len(str(path)) + MAX_MESSAGE, (bad.kind, len(message), message[:500])
    assert not CONTROL.search(message), (bad.kind, message[:500])


def check_refused(db, project, folder: Path, bad: hf.Bad) -> str:
    path = write(folder, bad.name, bad.data)
    outcome, savepoint = attempt(db, project, path, bad.fmt)
    if savepoint.is_active:
        savepoint.rollback()
    assert isinstance(outcome, ImportFailed), (bad.kind, "was accepted", outcome, bad.data[:300])
    assert_clear(outcome.message, path, bad)
    return outcome.message


def as_decimals(value: Any) -> Any:
    """JSON numbers as the decimal numbers they write: PostgreSQL's JSONB keeps metadata numbers as decimals,
    so 6.773509740789346e+16 from a file comes back as the integer 67735097407893460, the same number."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return [as_decimals(v) for v in value]
    return {k: as_decimals(v) for k, v in value.items()}


def stored(db, project, external_id: str) -> dict[str, Any]:
    from app.models import Instruction

    inst = db.scalar(select(Instruction).where(Instruction.project_id == project.id,
                                               Instruction.external_id == external_id))
    assert inst is not None, external_id
    return {"external_id": inst.external_id, "instruction": inst.instruction, "input": inst.input,
            "system": inst.system, "history": inst.history, "source": inst.source, "metadata": as_decimals(inst.meta),
            "candidates": [(c.text, str(c.origin)) for c in inst.candidates]}


def test_every_format_the_importer_reads_is_fuzzed():
    assert set(readers.READERS) == set(hf.FORMATS)
    # Predictions and answers are not read into instructions of their own: they join the project's.
    assert set(readers.FORMATS) == {"auto", "answers", *hf.FORMATS}
    assert set(hf.FIELDS) == {*hf.FORMATS, "predictions", "answers"}


# ---------------------------------------------------------------- valid files: odd Unicode stored exactly

@st.composite
def odd_files(draw) -> tuple[str, str, str, list[tuple[dict, dict]]]:
    fmt, container, style, explicit = draw(hf.setting())
    rows = []
    for i in range(draw(st.integers(1, 3))):
        t, extra = draw(hf.texts), draw(hf.extra_columns)
        ext = f"{draw(hf.odd_text)}#{i}"
        expected = hf.stored_for(fmt, t, ext, extra, "data")
        rows.append((hf.row_for(fmt, t, ext, extra), {**expected, "metadata": as_decimals(extra)}))
    return fmt if explicit else "auto", container, style, rows


@SETTINGS
@given(case=odd_files())
def test_odd_unicode_round_trips_exactly(db, project, tmp_path, case):
    fmt, container, style, rows = case
    path = write(tmp_path, hf.name_for(container), hf.assemble(hf.lines_of([r for r, _ in rows], style), container,
                                                                style))
    result, savepoint = attempt(db, project, path, fmt)
    try:
        assert not isinstance(result, ImportFailed), (result.message, fmt, container, style)
        assert (result.rows, result.created) == (len(rows), len(rows))
        for _, expected in rows:
            assert stored(db, project, expected["external_id"]) == expected
    finally:
        if savepoint.is_active:
            savepoint.rollback()


@pytest.mark.parametrize("container", ["jsonl", "json", "jsonl.gz"])
def test_a_leading_bom_is_read_like_the_same_file_without_it(db, project, tmp_path, container):
    rows = [{"id": "b1", "instruction": "\ufeffkept", "output": "x"}, {"id": "b2", "instruction": "y"}]
    path = write(tmp_path, hf.name_for(container), hf.assemble(hf.lines_of(rows, "utf8"), container, "bom"))
    result, savepoint = attempt(db, project, path)
    assert not isinstance(result, ImportFailed), result.message
    assert (result.rows, result.created) == (2, 2)
    assert stored(db, project, "b1")["instruction"] == "\ufeffkept"  # a BOM inside a text is the text's own
    savepoint.rollback()


def test_text_at_the_length_limit_is_kept_and_one_more_is_refused_naming_the_limit(db, project, tmp_path):
    from app.core.config import get_settings

    limit = get_settings().max_text_chars
    at_limit = "\U0001f4a9" * (limit - 1) + "e"  # characters, not bytes: an astral one counts once
    path = write(tmp_path, "data.jsonl", orjson.dumps({"id": "at", "instruction": at_limit}) + b"\n")
    result, savepoint = attempt(db, project, path)
    assert not isinstance(result, ImportFailed), result.message
    assert stored(db, project, "at")["instruction"] == at_limit
    savepoint.rollback()
    over = hf.Bad("too long", "data.jsonl", orjson.dumps({"id": "ok", "instruction": "fine"}) + b"\n"
                  + orjson.dumps({"id": "over", "instruction": "x", "output": "y" * (limit + 1)}) + b"\n",
                  "auto", 2, ("candidates", "output"), f"longer than {limit}", [])
    check_refused(db, project, tmp_path, over)


def test_metadata_as_deep_as_allowed_is_kept_and_one_level_more_is_refused(db, project, tmp_path):
    from app.instructions.schemas import MAX_METADATA_DEPTH

    value: Any = "leaf"
    for _ in range(MAX_METADATA_DEPTH - 2):  # the metadata object is the first level and the leaf the last
        value = [value]
    path = write(tmp_path, "data.jsonl", orjson.dumps({"id": "d", "instruction": "x", "nest": value}) + b"\n")
    result, savepoint = attempt(db, project, path)
    assert not isinstance(result, ImportFailed), result.message
    assert stored(db, project, "d")["metadata"] == {"nest": value}
    savepoint.rollback()
    deeper = hf.Bad("deep", "data.jsonl", orjson.dumps({"id": "d", "instruction": "x", "nest": [value]}) + b"\n",
                    "auto", 1, ("metadata",), f"nested deeper than {MAX_METADATA_DEPTH}", [])
    check_refused(db, project, tmp_path, deeper)


# ---------------------------------------------------------------- hostile files: refused clearly, nothing kept

@SETTINGS
@given(bad=hf.spoiled_field(missing=False))
@example(bad=hf.Bad("wrong type", "data.jsonl", b'{"instruction": "a"}\n{"instruction": "b", "history": [1]}\n',
                    "auto", 2, ("history[0]",), "must be", []))
@example(bad=hf.Bad("wrong type", "data.jsonl",
                    b'{"messages": [{"role": "user", "content": "a"}]}\n'
                    b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": 5}]}\n',
                    "auto", 2, ("messages[1].content",), "must be", []))
def test_a_field_of_the_wrong_type_is_refused_naming_line_and_field(db, project, tmp_path, bad):
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(bad=hf.spoiled_field(missing=True))
def test_a_missing_required_field_is_refused_naming_line_and_field(db, project, tmp_path, bad):
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(bad=hf.blank_text())
def test_blank_required_text_is_refused_naming_line_and_field(db, project, tmp_path, bad):
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(bad=hf.byte_damage())
@example(bad=hf.Bad("utf8 damage in an array", "data.json", b'[{"instruction": "a"},\n{"instruction": "b\xffc"}]\n',
                    "auto", 2, (), "invalid UTF-8", []))
def test_invalid_utf8_control_bytes_lone_surrogates_and_stray_boms_are_refused_naming_the_line(
        db, project, tmp_path, bad):
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(bad=hf.truncated())
def test_a_file_cut_inside_a_row_is_refused_naming_that_line(db, project, tmp_path, bad):
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(bad=hf.escaped_control())
def test_escaped_nul_and_control_characters_are_refused_naming_line_and_field(db, project, tmp_path, bad):
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(bad=hf.deep())
@example(bad=hf.Bad("deep nesting", "data.jsonl", b'{"instruction": "a"}\n{"instruction": "b", "nest": '
                    + b"[" * 1000 + b"]" * 1000 + b"}\n", "auto", 2, ("metadata",), "nested deeper", []))
def test_deep_nesting_is_refused_naming_the_line(db, project, tmp_path, bad):
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(bad=hf.foreign())
def test_files_in_other_formats_are_refused_at_their_first_line(db, project, tmp_path, bad):
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(rows=hf.good_rows("alpaca", 3), cut=st.floats(0, 1), json_array=st.booleans())
def test_a_cut_gzip_stream_is_refused_as_unreadable(db, project, tmp_path, rows, cut, json_array):
    whole = hf.assemble(hf.lines_of(rows, "utf8"), "json.gz" if json_array else "jsonl.gz", "utf8")
    data = whole[:max(1, min(int(cut * len(whole)), len(whole) - 1))]  # an empty file is no cut stream
    bad = hf.Bad("cut gzip", "data.jsonl.gz", data, "auto", None, (), "cannot read the file", [])
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(raw=st.binary(max_size=600), prefix=st.booleans(), gz=st.booleans())
def test_random_bytes_are_refused_or_imported_never_a_crash(db, project, tmp_path, raw, prefix, gz):
    data = (orjson.dumps({"instruction": "a good first row"}) + b"\n" if prefix else b"") + raw
    path = write(tmp_path, "data.jsonl.gz" if gz else "data.jsonl", gzip.compress(data, mtime=0) if gz else data)
    outcome, savepoint = attempt(db, project, path)
    if savepoint.is_active:
        savepoint.rollback()
    if isinstance(outcome, ImportFailed):
        assert outcome.message.startswith(f"{path}:"), outcome.message
        assert len(outcome.message) <= len(str(path)) + MAX_MESSAGE and not CONTROL.search(outcome.message)


# ---------------------------------------------------------------- predictions (Self-Instruct model responses)

@SETTINGS
@given(bad=hf.spoiled_prediction(missing=False) | hf.spoiled_prediction(missing=True))
@example(bad=hf.Bad("prediction wrong type", "davinci.jsonl",
                    b'{"instruction": "a", "input": "", "response": "b"}\n'
                    b'{"instruction": "c", "input": 5, "response": "d"}\n', "auto", 2, ("input",), "must be", []))
def test_a_bad_prediction_row_is_refused_naming_line_and_field(db, project, tmp_path, bad):
    check_refused(db, project, tmp_path, bad)


@SETTINGS
@given(tasks=st.lists(hf.texts, min_size=1, max_size=3), unmatched=hf.texts, style=st.sampled_from(hf.STYLES),
       container=st.sampled_from(hf.CONTAINERS))
def test_predictions_join_their_tasks_and_keep_odd_unicode_exactly(db, project, tmp_path, tasks, unmatched, style,
                                                                   container):
    for i, t in enumerate(tasks):  # distinct tasks: a prediction joins the first task with its text
        t.instruction = f"task {i} {t.instruction}"
    task_rows = [hf.row_for("self-instruct", t, f"task-{i}", {}) for i, t in enumerate(tasks)]
    task_file = write(tmp_path, hf.name_for(container, "tasks"),
                      hf.assemble(hf.lines_of(task_rows, style), container, style))
    unmatched.instruction = "no such task " + unmatched.instruction
    preds = [hf.prediction_row(t, target=False) for t in tasks] + [hf.prediction_row(unmatched, target=True)]
    pred_file = write(tmp_path, hf.name_for(container, "davinci"),
                      hf.assemble(hf.lines_of(preds, style), container, style))
    savepoint = db.begin_nested()
    try:
        import_file(db, project=project, path=task_file)
        result = import_file(db, project=project, path=pred_file)
        assert (result.rows, result.created, result.updated) == (len(tasks) + 1, 1, len(tasks))
        for i, t in enumerate(tasks):
            got = stored(db, project, f"task-{i}")
            assert got["instruction"] == t.instruction and got["input"] == t.input
            assert got["candidates"] == [(t.output, "reference"), (t.output, "imported")]
        from app.models import Instruction

        new = db.scalar(select(Instruction).where(Instruction.project_id == project.id,
                                                  Instruction.instruction == unmatched.instruction,
                                                  Instruction.source == "davinci"))
        assert new is not None and new.input == unmatched.input
        assert {(c.text, str(c.origin), c.model) for c in new.candidates} == {
            (unmatched.reply, "reference", ""), (unmatched.output, "imported", "davinci")}
    finally:
        savepoint.rollback()


# ---------------------------------------------------------------- huge lines and many rows

def _huge_cases(limit: int) -> list[hf.Bad]:
    good = orjson.dumps({"id": "g", "instruction": "fine"}) + b"\n"
    five_mb = 5_000_000
    return [
        hf.Bad("garbage line", "data.jsonl", good + b"z" * five_mb + b"\n", "auto", 2, (), "not valid JSON", []),
        hf.Bad("long instruction", "data.jsonl", good + orjson.dumps({"instruction": "x" * five_mb}) + b"\n",
               "auto", 2, ("instruction",), f"longer than {limit}", []),
        hf.Bad("long column", "data.jsonl", good + orjson.dumps({"instruction": "x", "note": "n" * five_mb}) + b"\n",
               "auto", 2, ("metadata",), "larger than", []),
        hf.Bad("long speaker", "data.jsonl",
               orjson.dumps({"conversations": [{"from": "human", "value": "hi"}]}) + b"\n"
               + orjson.dumps({"conversations": [{"from": "s" * five_mb, "value": "hi"}]}) + b"\n",
               "auto", 2, ("conversations[0].from",), "unknown speaker", []),
        hf.Bad("long role", "data.jsonl",
               orjson.dumps({"messages": [{"role": "user", "content": "hi"}]}) + b"\n"
               + orjson.dumps({"messages": [{"role": "r" * five_mb, "content": "hi"}]}) + b"\n",
               "auto", 2, ("messages[0].role",), "unknown role", []),
        hf.Bad("long repeated id", "data.jsonl",
               b"".join(orjson.dumps({"id": "i" * five_mb, "instruction": "x"}) + b"\n" for _ in range(2)),
               "auto", 2, ("id",), "appears again|longer than", []),
        hf.Bad("long array item", "data.json", b"[" + orjson.dumps({"instruction": "x" * five_mb}) + b"]",
               "auto", 1, ("instruction",), f"longer than {limit}", []),
    ]


def test_huge_lines_are_refused_with_a_short_message_naming_line_and_limit(db, project, tmp_path):
    from app.core.config import get_settings

    for bad in _huge_cases(get_settings().max_text_chars):
        check_refused(db, project, tmp_path, bad)


def test_a_bad_row_after_several_batches_keeps_none_of_the_file(db, project, tmp_path):
    rows = [{"id": f"many-{i}", "instruction": f"Instruction {i}", "output": "ok"} for i in range(BATCH * 2 + 5)]
    lines = [orjson.dumps(r) for r in rows] + [orjson.dumps({"id": "last", "instruction": "x", "output": 7})]
    for container in ("jsonl", "json.gz"):
        bad = hf.Bad("late bad row", hf.name_for(container), hf.assemble(lines, container, "utf8"), "auto",
                     len(lines), ("output",), "must be", [])
        check_refused(db, project, tmp_path, bad)


# ---------------------------------------------------------------- the entry points a user has

def _live_project() -> tuple[str, int]:
    """A committed project of its own for each example: ids and contents repeat across examples."""
    from app.core.db import get_sessionmaker
    from app.models import Project

    slug = f"fuzz-{secrets.token_hex(5)}"
    with get_sessionmaker()() as session:
        made = Project(name=f"Fuzz {slug}", slug=slug, settings={})
        session.add(made)
        session.commit()
        return slug, made.id


def _live_counts(project_id: int) -> tuple[int, int]:
    from app.core.db import get_sessionmaker

    with get_sessionmaker()() as session:
        return counts(session, project_id)


def _file_of(case: Any, stem: str = "data") -> tuple[str, bytes, str]:
    """(name, bytes, format) of a hostile file or of a valid odd one."""
    if isinstance(case, hf.Bad):
        return case.name.replace("data", stem, 1), case.data, case.fmt
    fmt, container, style, rows = case
    return hf.name_for(container, stem), hf.assemble(hf.lines_of([r for r, _ in rows], style), container, style), fmt


def _check_stored(project_id: int, case: Any, path: str) -> None:
    from app.core.db import get_sessionmaker
    from app.imports.files import base_name
    from app.models import Project

    with get_sessionmaker()() as session:
        project = session.get(Project, project_id)
        for _, expected in case[3]:
            # The file's stem is the source (a prompt-completion row's template is its own).
            source = base_name(Path(path)) if expected["source"] == "data" else expected["source"]
            assert stored(session, project, expected["external_id"]) == {**expected, "source": source}


def test_cli_prints_markup_and_emoji_codes_from_the_file_literally(live, tmp_path):
    from typer.testing import CliRunner

    from app.cli import cli

    slug, project_id = _live_project()
    path = write(tmp_path, "[bold]:smile:.jsonl", b'{"conversations": [{"from": "human", "value": "hi"}]}\n'
                 b'{"conversations": [{"from": "[/red]", "value": "hi"}]}\n')
    out = CliRunner().invoke(cli, ["import", str(path), "--project", slug])
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exc_info
    assert out.exit_code == 1, out.output
    assert f"error: {path}:2: conversations[0].from: unknown speaker '[/red]'" in out.output, out.output
    assert "importing [bold]:smile:.jsonl" in out.output
    assert _live_counts(project_id) == (0, 0)


valid_or_hostile = st.one_of(hf.hostile_file(), odd_files())


@SETTINGS
@given(case=valid_or_hostile, stem=st.sampled_from(["data", "[bold red]in[blink]put :smile:", "\u05e9\u05dc\u202e"]))
def test_cli_refuses_hostile_files_cleanly_and_imports_valid_ones(live, tmp_path, case, stem):
    from typer.testing import CliRunner

    from app.cli import cli

    slug, project_id = _live_project()
    name, data, fmt = _file_of(case, stem)
    path = write(tmp_path, name, data)
    out = CliRunner().invoke(cli, ["import", str(path), "--project", slug, "--format", fmt])
    assert out.exception is None or isinstance(out.exception, SystemExit), (out.output[-2000:], out.exc_info)
    if isinstance(case, hf.Bad):
        assert out.exit_code == 1, out.output[-2000:]
        assert out.output.rstrip().endswith("nothing was imported."), out.output[-2000:]
        message = out.output.split("error: ", 1)[1].rsplit("\nnothing was imported.", 1)[0]
        assert_clear(message, path, case)
        assert _live_counts(project_id) == (0, 0)
    else:
        assert out.exit_code == 0, out.output[-2000:]
        assert f"imported {len(case[3])} rows" in out.output, out.output[-2000:]
        _check_stored(project_id, case, str(path))


@pytest.fixture
def admin_client(live):
    from fastapi.testclient import TestClient

    from app.core.db import get_sessionmaker
    from app.main import create_app
    from tests.conftest import csrf_from, login
    from tests.reliability.conftest import quick_user

    with get_sessionmaker()() as session:
        email = quick_user(session, "admin").email
        session.commit()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        login(client, email)
        client.headers["X-CSRFToken"] = csrf_from(client)
        yield client


def _upload_and_run(client, case: Any) -> None:
    """Upload on the admin page, run the job with the worker's own task (in this process), read the outcome."""
    from app.core.db import get_sessionmaker
    from app.models import ImportJob, ImportStatus
    from worker.tasks.imports import run

    slug, project_id = _live_project()
    name, data, fmt = _file_of(case)
    resp = client.post("/admin/imports", data={"project": slug, "format": fmt},
                       files={"file": (name, data, "application/octet-stream")}, follow_redirects=False)
    assert resp.status_code == 303, (resp.status_code, resp.text[:500])
    job_id = int(resp.headers["location"].rsplit("/", 1)[1])
    run(job_id)
    with get_sessionmaker()() as session:
        job = session.get(ImportJob, job_id)
        # Errors and sources name the file as the admin chose it, not the stored upload's name.
        status, error, path = job.status, job.error, job.source_name
    page = client.get(f"/admin/imports/{job_id}")
    assert page.status_code == 200
    assert status in (ImportStatus.succeeded, ImportStatus.failed), status  # never left queued or running
    assert f'data-testid="job-status">{status.value}' in page.text
    if isinstance(case, hf.Bad):
        assert status == ImportStatus.failed, (case.kind, case.data[:300])
        assert_clear(error, path, case)
        assert str(escape(error)) in page.text
        assert _live_counts(project_id) == (0, 0)
    else:
        assert status == ImportStatus.succeeded, error
        _check_stored(project_id, case, path)


@SETTINGS
@given(case=valid_or_hostile)
def test_admin_upload_run_by_the_worker_task_fails_clearly_or_succeeds_never_stuck(admin_client, case):
    _upload_and_run(admin_client, case)


def test_a_nul_in_a_column_name_fails_the_job_with_a_printable_error(admin_client):
    # The message names the field, here a metadata key holding U+0000: PostgreSQL cannot store that in the
    # job's error, so written raw it left the job running for ever.
    _upload_and_run(admin_client, hf.Bad("NUL in a column name", "data.jsonl",
                                         b'{"instruction": "a"}\n{"instruction": "b", "n\\u0000te": 1}\n', "auto", 2,
                                         ("metadata.n\\x00te",), "control character U\\+0000", []))
