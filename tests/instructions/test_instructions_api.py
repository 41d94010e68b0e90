"""List with cursor pagination and filters; get, patch and delete one instruction; who sees what."""

from __future__ import annotations

from app.models import Annotation, AnnotationStatus, Instruction

N = 23


def _seed(ingest) -> list[int]:
    items = [{"external_id": f"e{i}", "instruction": ("Translate " if i % 3 == 0 else "Summarise ") + f"item {i}",
              "split": "eval" if i % 2 else "train", "source": "alpha" if i < 10 else "beta",
              "candidates": [{"text": f"answer {i}"}]} for i in range(N)]
    resp = ingest(items)
    assert resp.status_code == 200, resp.text
    return resp.json()["ids"]


def _walk(client, slug, headers, **params) -> list[dict]:
    seen, cursor, pages = [], None, 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        resp = client.get(f"/api/v1/projects/{slug}/instructions", params=query, headers=headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        assert pages < 100


def test_pagination_walks_every_row_once_in_id_order(ingest, client, project, annotator_headers):
    ids = _seed(ingest)
    rows = _walk(client, project["slug"], annotator_headers, limit=5)
    assert [r["id"] for r in rows] == sorted(ids)
    assert rows[0]["candidate_count"] == 1 and rows[0]["project"] == project["slug"]
    exact = _walk(client, project["slug"], annotator_headers, limit=N)
    assert len(exact) == N


def test_filters_combine_with_pagination(ingest, client, project, reviewer_headers, db):
    ids = _seed(ingest)
    db.get(Instruction, ids[4]).status = "approved"
    db.flush()
    slug = project["slug"]
    evals = _walk(client, slug, reviewer_headers, limit=4, split="eval")
    assert {r["external_id"] for r in evals} == {f"e{i}" for i in range(N) if i % 2}
    beta_eval = _walk(client, slug, reviewer_headers, limit=3, split="eval", source="beta")
    assert {r["external_id"] for r in beta_eval} == {f"e{i}" for i in range(10, N) if i % 2}
    translated = _walk(client, slug, reviewer_headers, limit=2, q="TRANSLATE")
    assert {r["external_id"] for r in translated} == {f"e{i}" for i in range(N) if i % 3 == 0}
    approved = _walk(client, slug, reviewer_headers, status="approved")
    assert [r["id"] for r in approved] == [ids[4]]
    assert _walk(client, slug, reviewer_headers, q="100%_") == []  # LIKE wildcards are matched literally


def test_bad_list_parameters(client, project, reviewer_headers):
    url = f"/api/v1/projects/{project['slug']}/instructions"
    assert client.get(url, params={"limit": 501}, headers=reviewer_headers).status_code == 422
    assert client.get(url, params={"status": "done"}, headers=reviewer_headers).status_code == 422
    bad = client.get(url, params={"cursor": "garbage!"}, headers=reviewer_headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "cursor"
    assert client.get("/api/v1/projects/nope/instructions", headers=reviewer_headers).status_code == 404
    assert client.get(url).status_code == 401


def test_annotators_see_only_their_own_annotations(ingest, client, db, make_user, token_for):
    iid = _seed(ingest)[0]
    mine, other = make_user("annotator"), make_user("annotator")
    reviewer = make_user("reviewer")
    db.add_all([Annotation(instruction_id=iid, user_id=mine.id, status=AnnotationStatus.submitted, comment="mine"),
                Annotation(instruction_id=iid, user_id=other.id, status=AnnotationStatus.submitted, comment="other")])
    db.flush()
    own = client.get(f"/api/v1/instructions/{iid}", headers=token_for(mine)).json()
    assert [a["comment"] for a in own["annotations"]] == ["mine"]
    everyone = client.get(f"/api/v1/instructions/{iid}", headers=token_for(reviewer)).json()
    assert sorted(a["comment"] for a in everyone["annotations"]) == ["mine", "other"]
    assert everyone["candidates"][0]["text"] == "answer 0"


def test_patch_changes_fields_for_reviewers_only(ingest, client, reviewer_headers, annotator_headers):
    iid = _seed(ingest)[0]
    before = client.get(f"/api/v1/instructions/{iid}", headers=reviewer_headers).json()
    resp = client.patch(f"/api/v1/instructions/{iid}", headers=reviewer_headers, json={
        "split": "holdout", "source": "curated", "metadata": {"checked": True}, "instruction": "Translate item zero",
        "system": "Be exact."})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["split"], body["source"], body["metadata"], body["instruction"], body["system"]) == (
        "holdout", "curated", {"checked": True}, "Translate item zero", "Be exact.")
    assert body["content_hash"] != before["content_hash"]
    assert client.patch(f"/api/v1/instructions/{iid}", headers=annotator_headers,
                        json={"split": "train"}).status_code == 403


def test_patch_validation(ingest, client, reviewer_headers, monkeypatch):
    from app.core.config import get_settings

    iid = _seed(ingest)[0]
    url = f"/api/v1/instructions/{iid}"
    for body, field in [({"instruction": "  "}, "instruction"), ({"split": "test"}, "split"),
                        ({"status": "approved"}, "status"), ({"input": "a\u0000"}, "input"),
                        ({"instruction": None}, "instruction")]:
        resp = client.patch(url, json=body, headers=reviewer_headers)
        assert resp.status_code == 422, (body, resp.text)
        assert field in resp.json()["error"]["details"][0]["field"], resp.json()
    monkeypatch.setattr(get_settings(), "max_text_chars", 10)
    assert client.patch(url, json={"input": "x" * 11}, headers=reviewer_headers).status_code == 422


def test_delete_and_404s(ingest, client, reviewer_headers, annotator_headers, admin_headers):
    ids = _seed(ingest)
    assert client.delete(f"/api/v1/instructions/{ids[0]}", headers=annotator_headers).status_code == 403
    assert client.delete(f"/api/v1/instructions/{ids[0]}", headers=reviewer_headers).status_code == 204
    assert client.delete(f"/api/v1/instructions/{ids[1]}", headers=admin_headers).status_code == 204
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"split": "train"}} if method == "patch" else {}
        resp = getattr(client, method)(f"/api/v1/instructions/{ids[0]}", headers=reviewer_headers, **kwargs)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/instructions/999999999", headers=reviewer_headers).status_code == 404
