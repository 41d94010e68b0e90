"""Ingest upserts: created / updated / unchanged by external_id or content hash; re-sends write nothing."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Candidate, Instruction
from tests.instructions.conftest import ndjson

ITEMS = [
    {"external_id": "t1", "instruction": "Translate to French.", "input": "Good morning", "split": "eval",
     "source": "seed", "metadata": {"lang": "fr"}, "system": "Be brief.",
     "history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
     "candidates": [{"text": "Bonjour", "model": "gpt-x", "score": 0.9}, {"text": "Salut", "model": "tiny"}]},
    {"external_id": "t2", "instruction": "Add the numbers.", "input": "2 and 3",
     "candidates": [{"text": "5", "model": "calc"}]},
]


def test_created_then_unchanged_writes_nothing(ingest, db):
    first = ingest(ITEMS)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 0)
    stamps = dict(db.execute(select(Instruction.id, Instruction.updated_at)).tuples().all())
    candidates = db.scalar(select(Candidate.id).order_by(Candidate.id.desc()).limit(1))
    again = ingest(ITEMS).json()
    assert again == {"created": 0, "updated": 0, "unchanged": 2, "ids": body["ids"]}
    db.expire_all()
    assert dict(db.execute(select(Instruction.id, Instruction.updated_at)).tuples().all()) == stamps
    assert db.scalar(select(Candidate.id).order_by(Candidate.id.desc()).limit(1)) == candidates


def test_stored_fields_and_candidates(ingest, client, reviewer_headers):
    ids = ingest(ITEMS).json()["ids"]
    one = client.get(f"/api/v1/instructions/{ids[0]}", headers=reviewer_headers).json()
    assert one["external_id"] == "t1" and one["split"] == "eval" and one["source"] == "seed"
    assert one["metadata"] == {"lang": "fr"} and one["system"] == "Be brief."
    assert one["history"][1] == {"role": "assistant", "content": "Hello!"}
    assert [(c["text"], c["model"], c["score"], c["origin"]) for c in one["candidates"]] == [
        ("Bonjour", "gpt-x", 0.9, "imported"), ("Salut", "tiny", None, "imported")]
    assert one["status"] == "pending" and len(one["content_hash"]) == 64


def test_changed_item_is_updated_and_candidates_merged(ingest, client, reviewer_headers):
    ids = ingest(ITEMS).json()["ids"]
    before = client.get(f"/api/v1/instructions/{ids[0]}", headers=reviewer_headers).json()
    changed = {**ITEMS[0], "instruction": "Translate into French.",
               "candidates": [{"text": "Bonjour", "model": "gpt-x", "score": 0.5},
                              {"text": "Bonjour !", "model": "new"}]}
    resp = ingest([changed, ITEMS[1]]).json()
    assert (resp["created"], resp["updated"], resp["unchanged"]) == (0, 1, 1)
    assert resp["ids"] == ids
    after = client.get(f"/api/v1/instructions/{ids[0]}", headers=reviewer_headers).json()
    assert after["instruction"] == "Translate into French."
    assert after["content_hash"] != before["content_hash"]
    by_text = {c["text"]: c for c in after["candidates"]}
    # The matching candidate keeps its id (annotations point at it) and takes the new score;
    # the one no longer sent is kept; the new one is added.
    old_bonjour = next(c for c in before["candidates"] if c["text"] == "Bonjour")
    assert by_text["Bonjour"]["id"] == old_bonjour["id"] and by_text["Bonjour"]["score"] == 0.5
    assert set(by_text) == {"Bonjour", "Salut", "Bonjour !"}
    assert ingest([changed]).json()["unchanged"] == 1


def test_items_without_external_id_are_known_by_content(ingest):
    items = [{"instruction": "No id here."}, {"instruction": "Nor here.", "candidates": [{"text": "ok"}]}]
    first = ingest(items).json()
    assert first["created"] == 2
    again = ingest([*items, {"instruction": "New one."}]).json()
    assert (again["created"], again["unchanged"]) == (1, 2)
    assert again["ids"][:2] == first["ids"]
    # The same content twice in one batch is one instruction.
    twice = ingest([{"instruction": "Twin."}, {"instruction": "Twin."}]).json()
    assert (twice["created"], twice["unchanged"]) == (1, 1) and twice["ids"][0] == twice["ids"][1]


def test_ndjson_body_gives_the_same_result(ingest):
    resp = ingest(raw=ndjson(ITEMS), content_type="application/x-ndjson")
    assert resp.status_code == 200, resp.text
    assert resp.json()["created"] == 2
    again = ingest(ITEMS).json()  # JSON and NDJSON hash the same items the same way
    assert again["unchanged"] == 2


def test_empty_model_output_is_kept_as_a_candidate(ingest, client, reviewer_headers):
    ids = ingest([{"instruction": "Say something.", "candidates": [{"text": "", "model": "silent"}]}]).json()["ids"]
    one = client.get(f"/api/v1/instructions/{ids[0]}", headers=reviewer_headers).json()
    assert one["candidates"][0]["text"] == "" and one["candidates"][0]["model"] == "silent"


def test_provenance_is_pushed_kept_and_read_back(client, db, make_user, token_for):
    """Items say how they were made; without a word they are human-made, and old hashes still match."""
    from app.models import Candidate, Instruction, Project

    headers = token_for(make_user("reviewer"))
    db.add(Project(name="Made", slug="made"))
    db.commit()
    items = [{"external_id": "a", "instruction": "Name a colour",
              "candidates": [{"text": "Blue", "model": "teacher", "construction": "distilled"}, {"text": "Red"}]},
             {"external_id": "b", "instruction": "Rendered from a template", "construction": "template"}]
    resp = client.post("/api/v1/projects/made/instructions", json={"items": items}, headers=headers)
    assert resp.status_code == 200, resp.text
    rows = {i.external_id: i for i in db.query(Instruction).filter(Instruction.external_id.in_(["a", "b"]))}
    assert rows["a"].construction == "human" and rows["b"].construction == "template"
    made = {c.text: c.construction for c in db.query(Candidate).filter(Candidate.instruction_id == rows["a"].id)}
    assert made == {"Blue": "distilled", "Red": "human"}
    # The same batch again changes nothing; saying "human" out loud is a change only in the hash, not the row.
    again = client.post("/api/v1/projects/made/instructions", json={"items": items}, headers=headers).json()
    assert again["unchanged"] == 2
    items[1]["construction"] = "distilled"
    assert client.post("/api/v1/projects/made/instructions", json={"items": items},
                       headers=headers).json()["updated"] == 1
    db.expire_all()
    assert db.get(Instruction, rows["b"].id).construction == "distilled"
    one = client.get(f"/api/v1/instructions/{rows['a'].id}", headers=headers).json()
    assert one["construction"] == "human" and one["job_id"] is None
    assert {c["text"]: c["construction"] for c in one["candidates"]} == {"Blue": "distilled", "Red": "human"}
    bad = client.post("/api/v1/projects/made/instructions", headers=headers,
                      json={"items": [{"instruction": "x", "construction": "by hand"}]})
    assert bad.status_code == 422 and "items[0].construction" in bad.text
