"""Ingest validation: every rule answers 422 naming each bad item by index and field; nothing is written."""

from __future__ import annotations

from tests.instructions.conftest import ndjson

GOOD = {"external_id": "ok", "instruction": "Summarise the text.", "input": "Some text."}


def _count(client, project, headers) -> int:
    return client.get(f"/api/v1/projects/{project['slug']}", headers=headers).json()["counts"]["total"]


RULES = [
    ({"instruction": ""}, "instruction", "must not be empty"),
    ({"instruction": " \n\t "}, "instruction", "must not be empty or only whitespace"),
    ({"instruction": "a\u0001b"}, "instruction", "control character U+0001"),
    ({"instruction": "x", "input": "nul\u0000here"}, "input", "control character U+0000"),
    ({"instruction": "x", "system": "del\u007f"}, "system", "control character U+007F"),
    ({"instruction": "x", "source": "back\bspace"}, "source", "control character U+0008"),  # JSON's short \b
    ({"instruction": "form\ffeed"}, "instruction", "control character U+000C"),
    ({"instruction": "x", "candidates": [{"text": "bell\u0007"}]}, "candidates[0].text", "control character"),
    ({"instruction": "x", "metadata": {"k": "v\u001b"}}, "metadata.k", "control character"),
    ({"instruction": "x", "colour": "red"}, "colour", "unknown field"),
    ({"instruction": "x", "candidates": [{"text": "t", "origin": "reference"}]}, "candidates[0].origin",
     "unknown field"),
    ({"instruction": 42}, "instruction", "must be a string"),
    ({"instruction": "x", "input": None}, "input", "must be a string"),
    ({"instruction": "x", "split": "test"}, "split", "'train', 'eval' or 'holdout'"),
    ({"instruction": "x", "candidates": [{"text": "t", "score": "0.5"}]}, "candidates[0].score", "number"),
    ({"instruction": "x", "candidates": {"text": "t"}}, "candidates", "must be a JSON array"),
    ({"instruction": "x", "history": [{"role": "bot", "content": "hi"}]}, "history[0].role", "'user' or 'assistant'"),
    ({"instruction": "x", "metadata": ["not", "an", "object"]}, "metadata", "must be a JSON object"),
    ({"instruction": "x", "metadata": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}, "metadata",
     "nested deeper"),
    ({"instruction": "x", "metadata": {"big": "y" * 70_000}}, "metadata", "KiB"),
    ({"instruction": "x", "external_id": ""}, "external_id", "must not be empty"),
    ({"input": "no instruction"}, "instruction", "required"),
]


def test_each_rule_names_the_item_and_field(ingest, client, project, reviewer_headers):
    """One batch: two good items, then one bad item per rule; every bad one is named, nothing is written."""
    resp = ingest([GOOD, {"external_id": "two", "instruction": "fine"}, *[bad for bad, _, _ in RULES]])
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error"
    by_index = {}
    for detail in error["details"]:
        by_index.setdefault(detail["index"], []).append(detail)
    assert 0 not in by_index and 1 not in by_index  # the good items are not blamed
    for n, (_bad, field, message) in enumerate(RULES, start=2):
        details = by_index.get(n)
        assert details, f"rule {n} ({field}) not reported"
        assert details[0]["field"] == f"items[{n}].{field}", details
        assert message in details[0]["message"], details
    assert _count(client, project, reviewer_headers) == 0  # nothing written


def test_every_bad_item_is_listed_in_one_answer(ingest):
    resp = ingest([{"instruction": ""}, GOOD, {"instruction": "x", "extra": 1}, {"instruction": "a\u0002"}])
    assert resp.status_code == 422
    details = resp.json()["error"]["details"]
    assert {d["index"] for d in details} == {0, 2, 3}
    assert "3 item(s) are not valid" in resp.json()["error"]["message"]


def test_text_longer_than_the_limit(ingest, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setattr(get_settings(), "max_text_chars", 50)
    resp = ingest([{"instruction": "x" * 51}, {"instruction": "ok", "candidates": [{"text": "y" * 60}]}])
    assert resp.status_code == 422
    fields = {d["field"]: d["message"] for d in resp.json()["error"]["details"]}
    assert fields == {"items[0].instruction": "longer than 50 characters",
                      "items[1].candidates[0].text": "longer than 50 characters"}


def test_too_many_candidates(ingest, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setattr(get_settings(), "max_candidates", 2)
    resp = ingest([{"instruction": "x", "candidates": [{"text": str(i)} for i in range(3)]}])
    assert resp.status_code == 422
    assert resp.json()["error"]["details"][0]["field"] == "items[0].candidates"


def test_too_many_items(ingest, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setattr(get_settings(), "max_batch_items", 3)
    resp = ingest([{"instruction": f"t{i}"} for i in range(4)])
    assert resp.status_code == 422
    assert "at most 3" in resp.json()["error"]["message"]
    assert ingest([{"instruction": f"t{i}"} for i in range(3)]).status_code == 200


def test_duplicate_external_id_within_a_batch(ingest):
    resp = ingest([GOOD, {"external_id": "b", "instruction": "y"}, {**GOOD, "instruction": "again"}])
    assert resp.status_code == 422
    [detail] = resp.json()["error"]["details"]
    assert detail == {"index": 2, "field": "items[2].external_id", "message": "duplicates the external_id of items[0]",
                      "type": "duplicate"}


def test_invalid_json_says_where(ingest):
    resp = ingest(raw=b'{"items": [{"instruction": "x"},\n  {"instruction": }]}')
    assert resp.status_code == 422
    [detail] = resp.json()["error"]["details"]
    assert detail["field"] == "body" and "line 2" in detail["message"]


def test_invalid_utf8_names_the_item(ingest):
    raw = b'{"items": [{"instruction": "fine"}, {"instruction": "caf\xe9 \xff"}]}'
    resp = ingest(raw=raw)
    assert resp.status_code == 422
    [detail] = resp.json()["error"]["details"]
    assert detail["index"] == 1 and detail["field"] == "items[1].instruction"
    assert detail["message"] == "invalid UTF-8"


def test_body_shape_errors(ingest):
    assert ingest(raw=b'[{"instruction": "x"}]').status_code == 422
    resp = ingest(raw=b'{"items": [], "more": 1}')
    assert resp.status_code == 422
    assert resp.json()["error"]["details"][0]["field"] == "more"
    empty = ingest([])
    assert empty.status_code == 422 and empty.json()["error"]["message"] == "The batch has no items."


def test_ndjson_errors_name_the_line(ingest):
    raw = b'{"instruction": "one"}\n\n{"instruction": ""}\n{"instruction": "x", "bad": true}\n'
    resp = ingest(raw=raw, content_type="application/x-ndjson")
    assert resp.status_code == 422
    details = resp.json()["error"]["details"]
    assert [(d["index"], d["line"], d["field"]) for d in details] == [
        (1, 3, "items[1].instruction"), (2, 4, "items[2].bad")]


def test_ndjson_invalid_json_and_utf8_name_the_line(ingest):
    raw = b'{"instruction": "one"}\n{"instruction": "two"\n{"instruction": "\xc3\x28"}\n{"instruction": "ok"}\n'
    resp = ingest(raw=raw, content_type="application/jsonl")
    assert resp.status_code == 422
    details = resp.json()["error"]["details"]
    assert [(d["line"], d["type"]) for d in details] == [(2, "json_invalid"), (3, "utf8_invalid")]
    assert "invalid UTF-8 (byte 0xc3" in details[1]["message"]


def test_body_over_the_limit_is_413(db, monkeypatch, project, reviewer_headers):
    from fastapi.testclient import TestClient

    from app.core.config import get_settings
    from app.core.db import get_session
    from app.main import create_app

    monkeypatch.setattr(get_settings(), "max_body_bytes", 2000)
    app = create_app()

    def _session():
        yield db

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as small:
        body = ndjson([{"instruction": "x" * 500} for _ in range(5)])
        resp = small.post(f"/api/v1/projects/{project['slug']}/instructions", content=body,
                          headers={**reviewer_headers, "Content-Type": "application/x-ndjson"})
        assert resp.status_code == 413
        assert resp.json()["error"]["code"] == "payload_too_large"


def test_roles(ingest, annotator_headers, client, project):
    resp = ingest([GOOD], headers=annotator_headers)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    anonymous = client.post(f"/api/v1/projects/{project['slug']}/instructions", json={"items": [GOOD]})
    assert anonymous.status_code == 401
    assert ingest([GOOD], headers={"Authorization": "Bearer nope"}).status_code == 401


def test_unknown_project_is_404(client, reviewer_headers, project):
    resp = client.post("/api/v1/projects/nope/instructions", json={"items": [GOOD]}, headers=reviewer_headers)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_openapi_documents_json_and_ndjson_bodies(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/projects/{slug}/instructions"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-ndjson"}
    item = body["application/x-ndjson"]["schema"]
    assert item["additionalProperties"] is False and "instruction" in item["required"]
