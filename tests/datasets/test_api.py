"""Source datasets over REST: JSON records and file uploads (JSONL, CSV, Parquet), kept exactly as sent; bad rows
reported by row number with nothing stored."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from app.models import SourceDataset, SourceRecord
from tests.exports.conftest import add_project

RECORDS = [{"review": "Lovely soup, would cook again.", "label": 1, "tags": ["soup"], "meta": {"stars": 5}},
           {"review": "Bland and watery.", "label": 0, "tags": [], "meta": {"stars": 2}},
           {"review": "Too salty | ||| for me", "label": 0, "tags": ["salt"], "meta": None}]


def test_json_records_are_stored_as_they_are(client, db, admin_headers):
    project = add_project(db)
    resp = client.post(f"/api/v1/projects/{project.slug}/datasets", headers=admin_headers,
                       json={"name": "recipes", "task": "recipe_sentiment", "source": "Flan2021", "records": RECORDS})
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"name": "recipes", "rows": 3, "task": "recipe_sentiment", "source": "Flan2021",
                           "fields": {"review": "text", "label": "number", "tags": "list", "meta": "object"}}
    page = client.get(f"/api/v1/projects/{project.slug}/datasets/recipes/records", headers=admin_headers).json()
    assert page["records"] == RECORDS and page["total"] == 3
    # As they came: field order too, on both databases.
    assert list(resp.json()["fields"]) == ["review", "label", "tags", "meta"]
    assert [list(r) for r in page["records"]] == [list(r) for r in RECORDS]
    listed = client.get(f"/api/v1/projects/{project.slug}/datasets", headers=admin_headers).json()
    assert [(d["name"], d["rows"]) for d in listed] == [("recipes", 3)]


def test_mixed_field_types_and_broken_rows_are_reported_per_row_and_nothing_is_stored(client, db, admin_headers):
    project = add_project(db)
    records = [{"text": "a", "label": 1}, {"text": "b", "label": "yes"}, ["not", "an", "object"],
               {"text": 3, "label": 0}]
    resp = client.post(f"/api/v1/projects/{project.slug}/datasets", headers=admin_headers,
                       json={"name": "bad", "task": "t", "source": "T0", "records": records})
    assert resp.status_code == 422
    error = resp.json()["error"]
    rows = {(d["row"], d["message"]) for d in error["details"]}
    assert rows == {(2, "field 'label' is text here, but number in row 1"), (3, "a list, not an object"),
                    (4, "field 'text' is number here, but text in row 1")}
    assert "nothing was stored" in error["message"]
    assert db.scalar(select(func.count()).select_from(SourceDataset).where(SourceDataset.project_id == project.id)) == 0
    assert db.scalar(select(func.count()).select_from(SourceRecord)) == 0


def test_uploads_in_jsonl_csv_and_parquet(client, db, admin_headers):
    project = add_project(db)
    jsonl = "\n".join(json.dumps(r) for r in RECORDS).encode()
    table = pa.Table.from_pylist([{"question": "2+2?", "answer": "4", "score": 0.5},
                                  {"question": "Capital of France?", "answer": "Paris", "score": None}])
    parquet = io.BytesIO()
    pq.write_table(table, parquet)
    uploads = [("recipes.jsonl", jsonl, 3), ("qa.csv", b"question,answer\n\"2+2, really?\",4\nWho?,Me\n", 2),
               ("qa.parquet", parquet.getvalue(), 2)]
    for index, (name, body, rows) in enumerate(uploads):
        resp = client.post(f"/api/v1/projects/{project.slug}/datasets", headers=admin_headers,
                           data={"name": f"d{index}", "task": "qa", "source": "T0"}, files={"file": (name, body)})
        assert resp.status_code == 201, resp.text
        assert resp.json()["rows"] == rows
    records = client.get(f"/api/v1/projects/{project.slug}/datasets/d1/records", headers=admin_headers).json()
    assert records["records"][0] == {"question": "2+2, really?", "answer": "4"}
    records = client.get(f"/api/v1/projects/{project.slug}/datasets/d2/records", headers=admin_headers).json()
    assert records["records"][1] == {"question": "Capital of France?", "answer": "Paris", "score": None}


def test_a_broken_csv_row_and_a_duplicate_name(client, db, admin_headers):
    project = add_project(db)
    db.commit()  # the failed request rolls its work back, not the user and token
    url = f"/api/v1/projects/{project.slug}/datasets"
    resp = client.post(url, headers=admin_headers, data={"name": "qa", "task": "qa", "source": "T0"},
                       files={"file": ("qa.csv", b"question,answer\nok,1\nbroken\n")})
    assert resp.status_code == 422
    assert resp.json()["error"]["details"][0]["message"] == "has 1 values, the header has 2 columns"
    assert resp.json()["error"]["details"][0]["row"] == 3
    ok = client.post(url, headers=admin_headers, json={"name": "qa", "task": "qa", "source": "T0",
                                                       "records": [{"q": 1}]})
    assert ok.status_code == 201
    again = client.post(url, headers=admin_headers, json={"name": "qa", "task": "qa", "source": "T0",
                                                          "records": [{"q": 1}]})
    assert again.status_code == 409
