"""Hostile input: the ingest endpoint under malformed, huge, deep and odd bytes; never a 5xx, never half-written.

Hypothesis builds the bodies; TUNELOOP_HOSTILE_EXAMPLES sets how many per property (25 here, far more in
`make reliability`).
"""

from __future__ import annotations

import json
import os

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.reliability.conftest import World, assert_error_shape

EXAMPLES = int(os.environ.get("TUNELOOP_HOSTILE_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
NDJSON = "application/x-ndjson"

ODD_TEXT = st.sampled_from([
    "\u202eevil\u202c",  # right-to-left override
    "zero\u200bwidth\u200d\ufeff",  # zero-width space and joiner, BOM
    "e\u0301\u0301\u0301",  # stacked combining marks
    "\U0001f4a9\U0001f9d1\u200d\U0001f4bb",  # astral plane and ZWJ sequence
    "\u2028line\u2029para",  # JSON-legal line separators
    "\ufdd0\uffff",  # noncharacters
    "a" * 10_000,
])
VALID_ITEM = {"instruction": "Say hello.", "candidates": [{"text": "Hello."}]}


def counts(db, project_id: int) -> tuple[int, int]:
    from app.models import Candidate, Instruction

    n_inst = db.scalar(select(func.count()).select_from(Instruction).where(Instruction.project_id == project_id))
    n_cand = db.scalar(select(func.count()).select_from(Candidate).join(Instruction)
                       .where(Instruction.project_id == project_id))
    return n_inst, n_cand


def post(world: World, body: bytes, content_type: str = "application/json"):
    caller = world.callers["admin_token"]
    return caller.request("POST", f"/api/v1/projects/{world.project.slug}/instructions", content=body,
                          headers={"content-type": content_type})


def check_answer(world: World, db, body: bytes, content_type: str = "application/json") -> int:
    """Send one batch: no 5xx; a refusal is the JSON error shape and leaves every row as it was."""
    before = counts(db, world.project.id)
    resp = post(world, body, content_type)
    assert resp.status_code < 500, (resp.status_code, resp.text[:500], body[:200])
    if resp.status_code >= 400:
        assert_error_shape(resp)
        assert counts(db, world.project.id) == before, f"a refused batch wrote rows: {body[:200]!r}"
    else:
        result = resp.json()
        assert set(result) >= {"created", "updated", "unchanged", "ids"}
        n_inst, _ = counts(db, world.project.id)
        assert n_inst == before[0] + result["created"], (result, before, n_inst)
    return resp.status_code


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(raw=st.binary(max_size=400))
def test_random_bytes_are_refused_cleanly(world, db, raw):
    check_answer(world, db, raw)
    check_answer(world, db, raw, NDJSON)


@SETTINGS
@given(value=json_values)
def test_wrong_shapes_of_valid_json_are_refused_cleanly(world, db, value):
    for body in ({"items": value}, {"items": [value]}, {"items": [{"instruction": value}]}, value):
        check_answer(world, db, orjson.dumps(body))


@SETTINGS
@given(cut=st.integers(min_value=1, max_value=200))
def test_truncated_json_and_ndjson_are_refused_cleanly(world, db, cut):
    body = orjson.dumps({"items": [VALID_ITEM, {**VALID_ITEM, "external_id": "x"}]})
    check_answer(world, db, body[:-cut] if cut < len(body) else body[:1])
    lines = b"\n".join(orjson.dumps(it) for it in [VALID_ITEM, {**VALID_ITEM, "external_id": "y"}])
    check_answer(world, db, lines[:-cut] if cut < len(lines) else lines[:1], NDJSON)


@SETTINGS
@given(bad=st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]),
       position=st.sampled_from(["instruction", "candidate", "key"]))
def test_invalid_utf8_is_refused_and_nothing_is_written(world, db, bad, position):
    good = orjson.dumps({"instruction": "fine", "external_id": "good-one"})
    if position == "instruction":
        item = b'{"instruction": "x' + bad + b'y"}'
    elif position == "candidate":
        item = b'{"instruction": "x", "candidates": [{"text": "' + bad + b'"}]}'
    else:
        item = b'{"instruction": "x", "metadata": {"' + bad + b'": 1}}'
    assert check_answer(world, db, b'{"items": [' + good + b", " + item + b"]}") == 422
    assert check_answer(world, db, good + b"\n" + item, NDJSON) == 422


@SETTINGS
@given(char=st.sampled_from(["\x00", "\x01", "\x08", "\x0c", "\x1b", "\x7f"]),
       field=st.sampled_from(["instruction", "input", "system", "candidate"]))
def test_nul_and_control_characters_are_refused(world, db, char, field):
    item = {"instruction": "ok", "external_id": "ctl"}
    if field == "candidate":
        item["candidates"] = [{"text": f"a{char}b"}]
    else:
        item[field] = f"a{char}b"
    body = {"items": [{"instruction": "clean", "external_id": "clean"}, item]}
    assert check_answer(world, db, json.dumps(body).encode()) == 422
    resp = post(world, json.dumps(body).encode())
    err = assert_error_shape(resp, 422)
    assert any(d.get("index") == 1 for d in err["details"]), err  # says which item


@SETTINGS
@given(escape=st.sampled_from(["\\ud800", "\\udfff", "\\ud800\\u0041", "\\udc00\\ud800"]))
def test_lone_surrogates_are_refused_or_stored_faithfully(world, db, escape):
    body = ('{"items": [{"instruction": "x' + escape + 'y", "external_id": "sur"}]}').encode()
    status = check_answer(world, db, body)
    assert status in (200, 201, 422), status


@SETTINGS
@given(text=ODD_TEXT)
def test_odd_unicode_round_trips_exactly(world, db, text):
    ext = f"odd-{abs(hash(text))}"
    resp = post(world, orjson.dumps({"items": [{"instruction": text, "external_id": ext,
                                                "candidates": [{"text": text}]}]}))
    assert resp.status_code in (200, 201), resp.text[:300]
    (new_id,) = resp.json()["ids"]
    got = world.callers["admin_token"].request("GET", f"/api/v1/instructions/{new_id}").json()
    assert got["instruction"] == text and got["candidates"][0]["text"] == text


@pytest.mark.parametrize("depth", [50, 1000, 100_000])
def test_deep_nesting_is_refused_or_accepted_but_never_crashes(world, db, depth):
    nested = "[" * depth + "]" * depth
    check_answer(world, db, f'{{"items": [{{"instruction": "deep", "metadata": {{"a": {nested}}}}}]}}'.encode())
    check_answer(world, db, ('{"items": ' + nested + "}").encode())
    check_answer(world, db, ('{"instruction": "deep", "metadata": {"a": ' + nested + "}}").encode(), NDJSON)


def test_huge_lines_and_texts_are_refused_with_the_limit_named(world, db):
    from app.core.config import get_settings

    limit = get_settings().max_text_chars
    too_long = {"items": [{"instruction": "x" * (limit + 1), "external_id": "long"}]}
    err = assert_error_shape(post(world, orjson.dumps(too_long)), 422)
    assert str(limit) in err["message"] + json.dumps(err["details"])
    # One 5 MB line of garbage in NDJSON, after a good line.
    check_answer(world, db, orjson.dumps(VALID_ITEM) + b"\n" + b"z" * 5_000_000, NDJSON)
    many = {"items": [{"instruction": f"i{i}"} for i in range(get_settings().max_batch_items + 1)]}
    err = assert_error_shape(post(world, orjson.dumps(many)), 422)
    assert str(get_settings().max_batch_items) in err["message"] + json.dumps(err["details"])


def test_a_body_over_the_limit_is_refused_before_it_is_read(world, db, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setattr(get_settings(), "max_body_bytes", 1024)
    # The middleware read its limit when the app was built; build one with the small limit.
    from app.main import create_app

    small = create_app()
    small.dependency_overrides = world.callers["admin_token"].client.app.dependency_overrides
    from fastapi.testclient import TestClient

    client = TestClient(small, raise_server_exceptions=False)
    before = counts(db, world.project.id)
    resp = client.post(f"/api/v1/projects/{world.project.slug}/instructions", content=b"{" + b" " * 4096 + b"}",
                       headers={**world.callers["admin_token"].headers, "content-type": "application/json"})
    assert_error_shape(resp, 413)
    assert counts(db, world.project.id) == before


def test_a_batch_with_one_bad_item_writes_nothing(world, db):
    items = [{"instruction": f"good {i}", "external_id": f"g{i}"} for i in range(50)]
    items.insert(25, {"instruction": "   ", "external_id": "blank"})
    before = counts(db, world.project.id)
    err = assert_error_shape(post(world, orjson.dumps({"items": items})), 422)
    assert [d["index"] for d in err["details"]] == [25]
    assert counts(db, world.project.id) == before
    ndjson = b"\n".join(orjson.dumps(it) for it in items)
    err = assert_error_shape(post(world, ndjson, NDJSON), 422)
    assert counts(db, world.project.id) == before


@SETTINGS
@given(text=st.text(alphabet=st.sampled_from(["\\", "b", "f", "u", "0", "1", "a", '"', "\x08", "\x0c", "\x01"]),
                    max_size=16))
def test_control_characters_are_refused_exactly_when_present(world, db, text):
    """Backslashes, letters and real control characters mixed: refused if and only if a control one is there."""
    body = json.dumps({"items": [{"instruction": "x" + text, "external_id": "mix"}]}).encode()
    status = check_answer(world, db, body)
    has_control = any(c in text for c in "\x08\x0c\x01")
    assert (status == 422) == has_control, (status, text)


@pytest.mark.parametrize("number", ["18446744073709551616", "-99999999999999999999999", "1e400", "-1e400",
                                    "123456789012345678901234567890.5"])
def test_numbers_beyond_64_bits_are_refused_or_kept_never_crash(world, db, number):
    for item in (f'{{"instruction": "n", "external_id": "num", "metadata": {{"n": {number}}}}}',
                 f'{{"instruction": "n", "external_id": "num2", "candidates": [{{"text": "t", "score": {number}}}]}}'):
        check_answer(world, db, f'{{"items": [{item}]}}'.encode())
        check_answer(world, db, item.encode(), NDJSON)
    resp = world.callers["admin_token"].request(
        "PATCH", f"/api/v1/instructions/{world.instruction.id}",
        content=f'{{"metadata": {{"n": {number}}}}}'.encode(), headers={"content-type": "application/json"})
    assert resp.status_code < 500, (resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        assert_error_shape(resp)
