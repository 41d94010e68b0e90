"""Grounded QA on a committed database against a scripted teacher: documents stored through the real service."""

from __future__ import annotations

import re

import pytest

from tests.jobs import conftest as jobs_fixtures
from tests.support.openai_server import ScriptedServer, chat_reply, last_user_text

REFUSAL = "Sorry, that is not in my documents."
create = jobs_fixtures.create
seeded = jobs_fixtures.seeded  # the jobs' project, admin and backend factory, as a fixture here too
MARK = re.compile(r"FACT-\d+")

MD = """# Harbour

The harbour wall is FACT-1 and was built of granite blocks in 1820.

# Lamps

The lamps are FACT-2 and burned whale oil until gas arrived.
"""
ROWS = [{"id": "tides", "title": "Tides", "text": "Spring tides are FACT-3 and follow the full moon."},
        {"id": "ships", "title": "Ships", "text": "A statement only passage: FACT-BAD holds no marker number."}]


def teacher(path, body, headers):
    """Questions name the passage's marker (one per seed); answers come only from the context; the refusal when
    the question's marker is not in the context; invented details about paint are never answerable."""
    prompt = last_user_text(body)
    if prompt.startswith("Generate a question"):
        marker = MARK.search(prompt)
        if marker is None:
            return chat_reply("The ships are described in the passage.")  # no question at all
        return chat_reply(f"Question: What is said about {marker.group()} (variant {body.get('seed')})?")
    if prompt.startswith("Write one question"):
        marker = MARK.search(prompt)
        return chat_reply(f"When was {marker.group() if marker else 'the ship'} painted blue?")
    if prompt.startswith("Answer the following question"):
        refusal = re.search(r"Say '(.+?)' when", prompt).group(1)
        question = prompt.split("Question: ", 1)[1].split("\nContext: ", 1)[0]
        context = prompt.split("\nContext: ", 1)[1]
        asked = MARK.search(question)
        if "painted blue" in question or (asked and asked.group() not in context):
            return chat_reply(f"I am afraid {refusal[0].lower()}{refusal[1:]}")
        if question.startswith(("Tell me about", "Describe")):
            return chat_reply(f"From the passage: {context[:40]}")
        return chat_reply(f"The passage says {asked.group()} is as described.")
    return None


@pytest.fixture
def scripted():
    with ScriptedServer(teacher) as server:
        yield server


@pytest.fixture
def collection(seeded):
    """Two documents of two passages each (one Markdown file, one JSONL file), in the seeded project."""
    import io
    import json

    from app.core.db import get_sessionmaker
    from app.documents.service import ingest_uploads
    from app.models import User

    with get_sessionmaker()() as session:
        outcomes = ingest_uploads(session, project_slug=seeded["slug"], licence="CC-BY-4.0",
                                  user=session.get(User, seeded["admin"]),
                                  uploads=[("harbour.md", io.BytesIO(MD.encode())),
                                           ("more.jsonl", io.BytesIO("\n".join(json.dumps(r) for r in ROWS)
                                                                     .encode()))])
        session.commit()
        assert all(o.document for o in outcomes)
        return {o.document.name: o.document.id for o in outcomes}
