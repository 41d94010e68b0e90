"""The collection page in a browser's shoes: upload through the form (errors beside the fields, what was typed
kept), the search box, delete; and the annotation task of a grounded item shows its passage and the flag."""

from __future__ import annotations

import hashlib
import re

from app.models import Candidate, Instruction, Project
from tests.conftest import login


def _csrf(html: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', html).group(1)


def test_collection_page_uploads_searches_and_deletes(client, db, make_user):
    admin = make_user("admin")
    db.add(Project(name="Lib", slug="lib"))
    db.commit()
    login(client, admin.email)
    page = client.get("/projects/lib/documents")
    assert page.status_code == 200
    assert 'name="max_chars"' in page.text and 'value="1200"' in page.text  # the split settings, shown
    token = _csrf(page.text)
    files = [("files", ("owls.md", b"# Owls\n\nBarn owls swallow voles whole.\n", "text/markdown")),
             ("files", ("bad.txt", b"\xff\xfe\x00", "text/plain"))]
    done = client.post("/projects/lib/documents", files=files, data={
        "csrftoken": token, "licence": "CC-BY-4.0", "max_chars": "800", "overlap": "100", "by_heading": "on"})
    assert done.status_code == 200, done.text
    assert 'data-outcome="stored"' in done.text and "owls.md" in done.text
    assert 'data-outcome="binary"' in done.text and "bad.txt" in done.text
    assert "800 chars, overlap 100, at headings" in done.text
    # The search box (HTMX asks for the results block alone).
    hits = client.get("/projects/lib/documents", params={"q": "owl vole"}, headers={"HX-Request": "true"})
    assert hits.text.lstrip().startswith('<div id="search-results">')
    assert "<mark>owls</mark>" in hits.text.lower() or "<mark>Owls</mark>" in hits.text
    assert "<mark>voles</mark>" in hits.text
    none = client.get("/projects/lib/documents", params={"q": "<script>volcano"}, headers={"HX-Request": "true"})
    assert 'data-testid="no-hits"' in none.text and "<script>" not in none.text
    # Bad settings: the error beside the field in its label's words, the typed values kept.
    wrong = client.post("/projects/lib/documents", data={"csrftoken": token, "licence": "mine", "max_chars": "90",
                                                         "overlap": "10"},
                        files=[("files", ("x.txt", b"words", "text/plain"))])
    assert wrong.status_code == 422
    assert re.search(r'data-error="max_chars">[^<]*200', wrong.text)
    assert 'value="mine"' in wrong.text and 'value="90"' in wrong.text
    nothing = client.post("/projects/lib/documents", data={"csrftoken": token})
    assert nothing.status_code == 422 and "Choose at least one file" in nothing.text
    doc_id = int(re.search(r'data-document="(\d+)"', done.text).group(1))
    assert "Barn owls swallow voles whole." in client.get(f"/documents/{doc_id}").text
    gone = client.post(f"/documents/{doc_id}/delete", data={"csrftoken": token}, follow_redirects=False)
    assert gone.status_code == 303
    assert "No documents yet." in client.get("/projects/lib/documents").text


def test_grounded_task_shows_the_passage_beside_the_question_with_the_flag(client, db, make_user):
    annotator = make_user()
    project = Project(name="G", slug="g")
    db.add(project)
    db.flush()
    passage = "The Eddystone lighthouse stands on rocks south of <Plymouth>."
    item = Instruction(project_id=project.id, instruction="Where does the lighthouse stand?", input=passage,
                       meta={"passage_id": 7, "answerable": True, "document": "lights.md", "document_id": 3,
                             "position": 0, "licence": "CC0"}, content_hash=hashlib.sha256(b"g").hexdigest())
    item.candidates = [Candidate(text="On rocks south of Plymouth.")]
    plain = Instruction(project_id=project.id, instruction="Say hi", content_hash="h2")
    plain.candidates = [Candidate(text="Hi")]
    db.add_all([item, plain])
    db.commit()
    login(client, annotator.email)
    page = client.get("/projects/g/annotate").text
    assert 'data-testid="grounded"' in page and 'data-testid="passage"' in page
    assert "south of &lt;Plymouth&gt;." in page  # escaped, shown as written
    assert "answerable from the passage" in page and "licence CC0" in page
    assert 'value="unsupported"' in page and "Not supported by the passage" in page
