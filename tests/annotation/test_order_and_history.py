"""Issue 10: candidates in a shuffled order per annotation (stored, stable, blind), and editing from the history."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from app.models import Annotation, AnnotationStatus, Instruction
from app.review.service import approve
from tests.conftest import csrf_from, login


def _ids_on_page(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'class="card ann-cand[^"]*" tabindex="0" data-id="(\d+)"', html)]


def test_annotators_see_their_own_stored_order_without_model_names(client, db, make_user, make_project,
                                                                    token_for):
    # Five candidates and four annotators on the same instruction: each gets an order of their own.
    project = make_project(n=1, candidates=5, min_submitted=4)
    instruction = db.scalars(select(Instruction).where(Instruction.project_id == project.id)).one()
    by_id = [c.id for c in instruction.candidates]
    users = [make_user() for _ in range(4)]
    db.commit()
    orders = []
    for user in users[:3]:
        login(client, user.email)
        page = client.get(f"/projects/{project.slug}/annotate")
        shown = _ids_on_page(page.text)
        assert sorted(shown) == sorted(by_id)
        cards = page.text[page.text.index('id="candidates"'):page.text.index('id="correction"')]
        assert not re.search(r"\bm[0-4]\b", cards)  # the fixture's model names, m0..m4, are nowhere on a card
        annotation = db.scalars(select(Annotation).where(Annotation.user_id == user.id)).one()
        db.refresh(annotation)
        assert annotation.shown_order == shown  # the order shown is stored with the annotation
        assert _ids_on_page(client.get(f"/projects/{project.slug}/tasks/{annotation.id}").text) == shown  # reload
        orders.append(tuple(shown))
        client.post("/logout", headers={"X-CSRFToken": csrf_from(client)})
    # The REST queue hands out the same kind of task: its own order, and no model or origin at all.
    task = client.post(f"/api/v1/projects/{project.slug}/tasks/next", headers=token_for(users[3])).json()
    api_order = [c["id"] for c in task["instruction"]["candidates"]]
    assert task["annotation"]["shown_order"] == api_order
    assert all(set(c) == {"id", "text"} for c in task["instruction"]["candidates"])
    orders.append(tuple(api_order))
    # Four shuffles of five candidates all alike: a chance below one in a million.
    assert len(set(orders)) > 1, orders
    assert {o[0] for o in orders} != {by_id[0]}


def test_a_submitted_annotation_can_be_edited_until_the_instruction_is_decided(client, db, make_user,
                                                                                make_project):
    project = make_project(n=2, candidates=3, min_submitted=2)
    user, admin = make_user(), make_user("admin")
    db.commit()
    login(client, user.email)
    headers = {"X-CSRFToken": csrf_from(client), "HX-Request": "true"}
    first = int(re.search(r'data-annotation="(\d+)"', client.get(f"/projects/{project.slug}/annotate").text)[1])
    ids = [c.id for c in db.get(Annotation, first).instruction.candidates]
    client.post(f"/annotations/{first}/submit", headers=headers, data={"ranking": json.dumps(ids), "comment": "v1"})

    history = client.get(f"/projects/{project.slug}/history")
    assert history.status_code == 200 and f'href="/projects/{project.slug}/tasks/{first}">Edit<' in history.text
    # A bad change is refused beside the ranking, and the stored annotation stays as it was.
    bad = client.post(f"/annotations/{first}/revise", headers=headers,
                      data={"ranking": json.dumps(ids[:1]), "comment": "typed"})
    assert bad.status_code == 200 and 'data-error="ranking"' in bad.text and "typed" in bad.text
    db.expire_all()
    assert db.get(Annotation, first).comment == "v1" and db.get(Annotation, first).ranking == ids
    good = client.post(f"/annotations/{first}/revise", headers=headers,
                       data={"ranking": json.dumps(ids[::-1]), "comment": "v2"})
    assert good.status_code == 204 and good.headers["HX-Redirect"].endswith("/history?done=saved")
    db.expire_all()
    done = db.get(Annotation, first)
    assert done.ranking == ids[::-1] and done.comment == "v2" and done.status == AnnotationStatus.submitted

    # Once a reviewer approves the instruction, the history says so and the edit is refused.
    approve(db, instruction=done.instruction, by=admin, final_response="Final.")
    db.commit()
    history = client.get(f"/projects/{project.slug}/history")
    assert f"/tasks/{first}\">Edit<" not in history.text and "decided" in history.text
    late = client.post(f"/annotations/{first}/revise", headers=headers, data={"ranking": json.dumps(ids)})
    assert late.status_code == 409
    assert client.get(f"/projects/{project.slug}/tasks/{first}", follow_redirects=False).status_code == 303
