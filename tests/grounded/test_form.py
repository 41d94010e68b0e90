"""The generic new-job form draws grounded-qa's parameters; bad ones come back beside their fields."""

from __future__ import annotations

import re

from app.models import Backend, Project
from tests.conftest import login


def test_grounded_form_fields_and_errors(client, db, make_user):
    admin = make_user("admin")
    db.add(Project(name="G", slug="g"))
    db.add(Backend(name="teacher", kind="openai", base_url="http://127.0.0.1:9/v1", model="t-1"))
    db.commit()
    login(client, admin.email)
    page = client.get("/jobs/new?project=g&kind=grounded-qa").text
    for name in ("question_backend", "answer_backend", "documents", "questions_per_passage", "refusal",
                 "holdout_fraction", "title_statements", "invented", "passage_query"):
        assert f'name="{name}"' in page, name
    assert "I don&#39;t have data on that" in page or "I don't have data on that" in page
    token = re.search(r'name="csrftoken" value="([^"]+)"', page).group(1)
    form = {"csrftoken": token, "project": "g", "kind": "grounded-qa", "question_backend": "teacher",
            "answer_backend": "teacher", "documents": "999"}
    wrong = client.post("/jobs", data=form)
    assert wrong.status_code == 422
    assert re.search(r'data-field="documents".*?not in this project', wrong.text, re.S)
    empty = client.post("/jobs", data={**form, "documents": ""})
    assert empty.status_code == 422
    assert re.search(r'data-field="documents".*?no passage of this project matches', empty.text, re.S)
    gone = client.post("/jobs", data={**form, "documents": "", "answer_backend": "nobody"})
    assert gone.status_code == 422 and re.search(r'data-field="answer_backend".*?does not exist', gone.text, re.S)
