"""Documents through the REST API on both databases: upload → passages → full-text search, bad inputs refused
per document with nothing half-stored, delete marks the items built from the document."""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select, text

from app.models import Document, Instruction, Passage

MD = """# Lighthouses

The Eddystone lighthouse stands on rocks fourteen kilometres south of Plymouth. Its first tower was built of wood.

## Keepers

Keepers lived in the tower for weeks. A keeper trimmed the lamp wicks every four hours through the night.
"""


def _project(client, headers, slug="docs"):
    assert client.post("/api/v1/projects", json={"name": slug, "slug": slug}, headers=headers).status_code == 201
    return slug


def _upload(client, headers, slug, *files, **form):
    return client.post(f"/api/v1/projects/{slug}/documents", headers=headers, data=form,
                       files=[("files", (name, io.BytesIO(data), "application/octet-stream")) for name, data in files])


def test_upload_splits_into_passages_and_search_finds_them(client, admin_headers, db):
    slug = _project(client, admin_headers)
    jsonl = "\n".join(json.dumps(r) for r in [
        {"id": "owl", "title": "Owls", "text": "Owls hunt at night. The barn owl swallows voles whole."},
        {"id": 7, "text": "Granite is an igneous rock rich in quartz and feldspar."}]).encode()
    html = (b"<html><head><title>Bread</title><script>alert(1)</script></head><body><nav>Home | About</nav>"
            b"<h1>Sourdough</h1><p>Sourdough rises with wild yeast.</p><h2>Starter</h2><p>Feed the starter daily."
            b"</p></body></html>")
    answer = _upload(client, admin_headers, slug, ("lighthouse.md", MD.encode()), ("rocks.jsonl", jsonl),
                     ("bread.html", html), ("notes.txt", b"Plain notes about tides and the moon."),
                     licence="CC-BY-4.0", max_chars="300", overlap="0")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["errors"] == []
    by_name = {d["name"]: d for d in body["documents"]}
    assert set(by_name) == {"lighthouse.md", "owl", "7", "bread.html", "notes.txt"}
    assert all(d["licence"] == "CC-BY-4.0" for d in body["documents"])
    assert by_name["owl"]["title"] == "Owls" and by_name["bread.html"]["title"] == "Bread"
    # Markdown splits at its two headings; HTML at its two, without the script or the nav.
    md_id = by_name["lighthouse.md"]["id"]
    md_passages = client.get(f"/api/v1/documents/{md_id}/passages", headers=admin_headers).json()
    assert [p["heading"] for p in md_passages] == ["Lighthouses", "Keepers"]
    assert [p["position"] for p in md_passages] == [0, 1]
    assert md_passages[1]["text"].startswith("Keepers lived in the tower")
    html_passages = client.get(f"/api/v1/documents/{by_name['bread.html']['id']}/passages",
                               headers=admin_headers).json()
    assert [p["text"] for p in html_passages] == ["Sourdough rises with wild yeast.", "Feed the starter daily."]
    assert all("alert" not in p["text"] and "Home" not in p["text"] for p in html_passages)
    # Full-text search: every word must occur; stemming finds "keeper" for "keepers"; query syntax is inert.
    hits = client.get(f"/api/v1/projects/{slug}/passages/search", params={"q": "keeper lamp"},
                      headers=admin_headers).json()
    assert [h["passage_id"] for h in hits] == [md_passages[1]["id"]]
    assert client.get(f"/api/v1/projects/{slug}/passages/search", params={"q": "owls voles"},
                      headers=admin_headers).json()[0]["document"] == "owl"
    assert client.get(f"/api/v1/projects/{slug}/passages/search", params={"q": 'lamp" OR NOT (*'},
                      headers=admin_headers).status_code == 200
    assert client.get(f"/api/v1/projects/{slug}/passages/search", params={"q": "lamp volcano"},
                      headers=admin_headers).json() == []
    # Search stays within the project.
    other = _project(client, admin_headers, "other")
    assert client.get(f"/api/v1/projects/{other}/passages/search", params={"q": "lamp"},
                      headers=admin_headers).json() == []


def test_passage_ids_are_stable_and_settings_stored(client, admin_headers, db):
    slug = _project(client, admin_headers)
    long_text = " ".join(f"Sentence number {i} tells a small fact about the sea." for i in range(200)).encode()
    first = _upload(client, admin_headers, slug, ("sea.txt", long_text), max_chars="500", overlap="100").json()
    doc = first["documents"][0]
    passages = client.get(f"/api/v1/documents/{doc['id']}/passages", headers=admin_headers).json()
    assert len(passages) == doc["passages"] > 10
    assert all(len(p["text"]) <= 500 for p in passages)
    # Overlap: each passage starts with words the one before ended with.
    assert passages[1]["text"][:30] in passages[0]["text"]
    meta = client.get(f"/api/v1/documents/{doc['id']}", headers=admin_headers).json()
    assert meta["split_settings"] == {"max_chars": 500, "overlap": 100, "by_heading": True}
    keys = [p["key"] for p in passages]
    assert client.delete(f"/api/v1/documents/{doc['id']}", headers=admin_headers).status_code == 200
    again = _upload(client, admin_headers, slug, ("sea-again.txt", long_text), max_chars="500", overlap="100").json()
    passages = client.get(f"/api/v1/documents/{again['documents'][0]['id']}/passages", headers=admin_headers).json()
    assert [p["key"] for p in passages] == keys


def test_bad_inputs_are_refused_per_document_and_nothing_is_half_stored(client, admin_headers, db):
    slug = _project(client, admin_headers)
    good = ("good.md", MD.encode())
    bad = [
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
        ("latin1.txt", "Caf\u00e9 au lait".encode("latin-1")),
        ("empty.txt", b"   \n\n"),
        ("scan.pdf", _image_only_pdf()),
        ("broken.pdf", b"%PDF-1.4\n garbage that is no pdf"),
        ("fake.pdf", b"just text"),
        ("bad.jsonl", b'{"id": "a", "text": "fine"}\n{"id": "b"}\n'),
        ("data.csv", b"a,b\n1,2\n"),
    ]
    answer = _upload(client, admin_headers, slug, good, *bad)
    assert answer.status_code == 201, answer.text
    errors = {e["name"]: e for e in answer.json()["errors"]}
    assert {n: e["code"] for n, e in errors.items()} == {
        "binary.txt": "binary", "latin1.txt": "invalid_utf8", "empty.txt": "empty", "scan.pdf": "no_text",
        "broken.pdf": "unreadable_pdf", "fake.pdf": "not_pdf", "bad.jsonl": "invalid_jsonl",
        "data.csv": "unsupported_type"}
    assert "line 1, column 4" in errors["latin1.txt"]["message"]
    assert "bad.jsonl:2" in errors["bad.jsonl"]["message"] and "'text'" in errors["bad.jsonl"]["message"]
    assert "OCR" in errors["scan.pdf"]["message"]
    # The JSONL file's good first line was not kept: a file with a bad line stores nothing.
    assert [d["name"] for d in answer.json()["documents"]] == ["good.md"]
    assert db.scalar(select(func.count()).select_from(Document)) == 1
    # The same text again is a duplicate: 409 with the existing document named, nothing added.
    dup = _upload(client, admin_headers, slug, ("copy.md", MD.encode()))
    assert dup.status_code == 409
    assert dup.json()["error"]["details"][0]["code"] == "duplicate"
    assert "already document" in dup.json()["error"]["message"]
    # All refused for one reason: that reason's status; a mix: 422 with one detail each.
    assert _upload(client, admin_headers, slug, bad[1]).status_code == 422
    assert _upload(client, admin_headers, slug, bad[-1]).status_code == 415
    mixed = _upload(client, admin_headers, slug, bad[0], ("copy.md", MD.encode()))
    assert mixed.status_code == 422 and len(mixed.json()["error"]["details"]) == 2
    assert db.scalar(select(func.count()).select_from(Document)) == 1
    assert db.scalar(select(func.count()).select_from(Passage)) == 2
    # Bad split settings name the field.
    wrong = _upload(client, admin_headers, slug, ("x.txt", b"some text"), max_chars="50")
    assert wrong.status_code == 422 and wrong.json()["error"]["details"][0]["field"] == "max_chars"


def test_oversized_upload_is_refused_while_streaming(client, admin_headers, db, monkeypatch):
    from app.core.config import get_settings

    slug = _project(client, admin_headers)
    monkeypatch.setattr(get_settings(), "max_document_bytes", 64 * 1024)
    answer = _upload(client, admin_headers, slug, ("big.txt", b"word " * 40_000))
    assert answer.status_code == 413
    assert "big.txt: over the limit of 64 KiB" in answer.json()["error"]["message"]
    assert answer.json()["error"]["details"][0]["code"] == "too_large"
    assert db.scalar(select(func.count()).select_from(Document)) == 0
    staging = get_settings().data_dir / "documents" / "staging"
    assert not any(staging.iterdir())  # the partial file is gone
    # A body over the server's request limit never reaches the route (announced by Content-Length).
    monkeypatch.setattr(get_settings(), "max_document_bytes", 50 * 2**20)
    huge = client.post(f"/api/v1/projects/{slug}/documents", headers={**admin_headers,
                                                                      "Content-Length": str(200 * 2**20)},
                       content=b"x")
    assert huge.status_code == 413


def test_one_giant_line_is_split_by_length(client, admin_headers, db):
    slug = _project(client, admin_headers)
    line = ("Tides follow the moon and the sun " * 60_000).encode()  # 2 MB, no newline at all
    nospace = b"A" * 300_000
    answer = _upload(client, admin_headers, slug, ("line.txt", line), ("blob.txt", nospace), max_chars="1000",
                     overlap="0")
    assert answer.status_code == 201, answer.text
    for doc in answer.json()["documents"]:
        lengths = db.scalars(select(func.length(Passage.text)).where(Passage.document_id == doc["id"])).all()
        assert len(lengths) == doc["passages"] and max(lengths) <= 1000
    assert {d["name"]: d["passages"] for d in answer.json()["documents"]}["blob.txt"] == 300


def test_delete_marks_items_and_removes_passages_from_the_index(client, admin_headers, db):
    slug = _project(client, admin_headers)
    doc = _upload(client, admin_headers, slug, ("l.md", MD.encode())).json()["documents"][0]
    passage = client.get(f"/api/v1/documents/{doc['id']}/passages", headers=admin_headers).json()[0]
    pushed = client.post(f"/api/v1/projects/{slug}/instructions", headers=admin_headers, json={"items": [
        {"instruction": "Where is the lighthouse?", "input": passage["text"],
         "metadata": {"passage_id": passage["id"], "document_id": doc["id"], "answerable": True}},
        {"instruction": "Unrelated", "metadata": {"document_id": doc["id"] + 1000}}]})
    assert pushed.status_code == 200, pushed.text
    gone = client.delete(f"/api/v1/documents/{doc['id']}", headers=admin_headers)
    assert gone.json() == {"deleted": doc["id"], "items_marked": 1}
    marked = db.scalars(select(Instruction.instruction).where(Instruction.source_deleted_at.is_not(None))).all()
    assert marked == ["Where is the lighthouse?"]
    assert client.get(f"/api/v1/projects/{slug}/passages/search", params={"q": "lighthouse"},
                      headers=admin_headers).json() == []
    if db.get_bind().dialect.name == "sqlite":  # the FTS index holds nothing of it any more
        assert db.execute(text("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH 'lighthouse'")).scalar() == 0
    assert client.get(f"/api/v1/documents/{doc['id']}/passages", headers=admin_headers).status_code == 404


def _image_only_pdf() -> bytes:
    """A real one-page PDF with no text layer, as a scanner makes (pypdf writes it)."""
    from pypdf import PdfWriter

    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.write(out)
    return out.getvalue()
