"""Snapshot files equal, byte for byte, the rows formats.py defines, whoever encodes them.

JSON files are encoded by the database (app/exports/encoded.py); the rows formats.py builds by orjson
here. Both must give exactly `orjson.dumps(row)` of formats.py's rows for every format, style and file
layout, texts with escapes, control characters and odd Unicode included.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from app.exports.formats import BUILDERS, NEEDS_CANDIDATES
from app.exports.source import iter_batches
from tests.exports.conftest import add_approved
from tests.exports.test_snapshot import build

# Everything JSON must escape, the COPY text format's own escapes, our packing separators and odd Unicode.
NASTY = ("tab\there, newline\nthere, CR\r, \\ backslash, \\\\ two, \\N not null, \"quoted\", "
         "\x01\x02\x07\x1b\x1f controls, \x7f DEL, é 漢字 \U0001F600, \u2028\u2029 separators, \u202e RTL, "
         "e\u0301 combining, \ufeff BOM, </script><img src=x onerror=alert(1)>")


def _seed(db, project) -> None:
    add_approved(db, project, instruction="Plain task", candidates=["one", "two", "three"])
    add_approved(db, project, instruction=f"Escapes: {NASTY}", input=f"input {NASTY}", system=f"sys {NASTY}",
                 candidates=[f"A {NASTY}", f"B {NASTY}", "C"], tiers=[[2], [0, 1]], rejected=[1])
    add_approved(db, project, instruction="Corrected", candidates=["x", "y", "z"], tiers=[[1], [0], [2]],
                 final=f"Fixed {NASTY}", rejected=[2, 0, 2])
    add_approved(db, project, instruction="Multi-turn", system="Be brief.",
                 history=[{"role": "user", "content": f"Hi {NASTY}"}, {"role": "assistant", "content": ""},
                          {"role": "user", "content": "And?"}, {"role": "assistant", "content": "Yes."}],
                 candidates=["More", "Less", "More"], tiers=[[0], [1], [2]], split="eval")
    add_approved(db, project, instruction="All bad", candidates=["p", "q"], all_bad=True, final="Written",
                 rejected=[0, 1])
    add_approved(db, project, instruction="Final judged bad", candidates=["m", "n"], final=0, rejected=[0])
    add_approved(db, project, instruction="Unranked", input="in", candidates=["only"], tiers=[], final="")
    add_approved(db, project, instruction="Held out", candidates=["h1", "h2"], split="holdout")


def _expected(db, project, fmt: str, style: str) -> dict[str, list[bytes]]:
    """formats.py's rows for every approval, encoded by orjson, by split: the definition of the files."""
    out: dict[str, list[bytes]] = {}
    options = {"filters": {}}
    for records, cands in iter_batches(db.connection(), project.id, options, with_candidates=fmt in NEEDS_CANDIDATES):
        for rec in records:
            for row in BUILDERS[fmt](rec, cands, style):
                out.setdefault(rec.split, []).append(orjson.dumps(row))
    return out


def _file_rows(path: Path) -> list[bytes]:
    if path.suffix == ".json":
        return [orjson.dumps(row) for row in json.loads(path.read_bytes())]
    return path.read_bytes().splitlines()


@pytest.mark.parametrize("fmt,style", [("sft-alpaca", "plain"), ("sft-messages", "plain"), ("sharegpt", "plain"),
                                       ("preference", "plain"), ("preference", "conversational"),
                                       ("kto", "plain"), ("kto", "conversational")])
def test_files_hold_exactly_the_rows_formats_define(db, project, tmp_path, fmt, style):
    _seed(db, project)
    expected = _expected(db, project, fmt, style)
    assert expected.get("train"), "the seed must give train rows in every format"
    result = build(db, project, tmp_path, fmt, preference_style=style, dedupe=False)
    files = json.loads((result.path / "manifest.json").read_text())["content"]["files"]
    got = {f["split"]: result.path / f["name"] for f in files if f["split"]}
    assert set(got) == set(expected)
    for split, rows in expected.items():
        if got[split].suffix == ".jsonl":
            # Byte for byte: the same escapes, key order and separators, one row a line.
            assert got[split].read_bytes() == b"".join(r + b"\n" for r in rows), f"{fmt}/{style} {split} differs"
        else:
            assert _file_rows(got[split]) == rows, f"{fmt} {split} differs"


def test_preview_and_dedupe_work_on_encoded_rows(db, project, tmp_path):
    _seed(db, project)
    add_approved(db, project, instruction="Plain task", candidates=["one", "two", "three"])  # a repeat
    result = build(db, project, tmp_path, "preference")
    manifest = json.loads((result.path / "manifest.json").read_text())["content"]
    assert manifest["duplicates_removed"] == 3  # the repeated instruction's three pairs
    assert result.preview and result.preview[0]["row"]["prompt"] == "Plain task"
    assert result.preview[0]["row"]["chosen"] == "one" and result.preview[0]["split"] == "train"
