"""`tuneloop documents import FOLDER`: every document file of a folder, bad ones named, the rest stored."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from tests.conftest import ROOT


def test_import_folder_stores_good_documents_and_names_bad_ones(live, tmp_path):
    from app.core.db import get_sessionmaker
    from app.models import Document, Project

    with get_sessionmaker()() as session:
        session.add(Project(name="Docs", slug="docs-cli"))
        session.commit()
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# Owls\n\nOwls hunt at night.\n")
    (tmp_path / "sub" / "b.txt").write_text("Granite is an igneous rock.")
    (tmp_path / "sub" / "c.txt").write_bytes(b"\xff\xfe broken")
    (tmp_path / "copy.txt").write_text("Granite is an igneous rock.")
    (tmp_path / "ignored.csv").write_text("a,b")
    done = subprocess.run([sys.executable, "-m", "app.cli", "documents", "import", str(tmp_path), "--project",
                           "docs-cli", "--licence", "CC0-1.0", "--max-chars", "400"], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # some were refused
    assert "stored 2 documents (2 passages) into docs-cli; 2 refused" in done.stdout
    assert "(invalid_utf8) sub/c.txt: not valid UTF-8" in done.stderr
    assert "(duplicate) sub/b.txt: the same text is already document" in done.stderr  # files go in path order
    with get_sessionmaker()() as session:
        docs = session.scalars(select(Document).order_by(Document.name)).all()
        assert [(d.name, d.licence, d.split_settings["max_chars"]) for d in docs] == [
            ("a.md", "CC0-1.0", 400), ("copy.txt", "CC0-1.0", 400)]
