"""Issue 10: a consensus tie survives the approve form and never becomes a preference pair in any export;
the form keeps the reviewer's order on an error; top-1 agreement reads "—" where nothing compares; position
bias is shown; an admin removes a candidate with its rankings handled."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest

from app.models import Annotation, Approval, InstructionStatus
from app.models.base import utcnow
from tests.conftest import csrf_from, login
from tests.exports.test_snapshot import build


def _form(html: str) -> dict[str, list[str]]:
    """What the browser posts from the approve form as the page rendered it (checked boxes only)."""
    form = html[html.index('id="approve-form"'):]
    form = form[:form.index("</form>")]
    return {"ranking": re.findall(r'type="hidden" name="ranking" value="(\d+)"', form),
            "tied": re.findall(r'name="tied" value="(\d+)" checked', form)}


def _order(html: str) -> list[tuple[int, bool]]:
    items = re.findall(r'<li class="sort-item([^"]*)"[^>]*data-id="(\d+)"', html)
    return [(int(cid), "tied" in cls) for cls, cid in items]


@pytest.fixture
def tied(db, make_user, make_project, make_instruction, annotate):
    """Two annotators who disagree on the first place: the consensus ties A and B above C."""
    project = make_project(name="Ties")
    inst = make_instruction(project, text="Name a colour.", candidates=("Blue", "Red", "Seven"),
                            status=InstructionStatus.submitted)
    a, b, c = (x.id for x in inst.candidates)
    annotate(inst, make_user(), ranking=[a, b, c])
    annotate(inst, make_user(), ranking=[b, a, c])
    return project, inst, (a, b, c)


def test_a_consensus_tie_is_kept_by_the_form_and_never_paired_in_any_export(client, db, make_user, tied, tmp_path):
    project, inst, (a, b, c) = tied
    login(client, make_user("reviewer").email)
    page = client.get(f"/review/{inst.id}")
    assert _order(page.text) == [(a, False), (b, True), (c, False)]
    fields = _form(page.text)
    resp = client.post(f"/review/{inst.id}/approve", data={"csrftoken": csrf_from(client), **fields,
                                                           "final_response": "Blue"}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    approval = db.query(Approval).filter_by(instruction_id=inst.id).one()
    assert approval.ranking == [[a, b], [c]]

    tied_texts = {"Blue", "Red"}
    # Both writers: JSON Lines encoded by the database, Parquet from formats.py's rows (hf shares that path).
    for fmt, style, file_format in (("preference", "plain", "jsonl"), ("preference", "conversational", "jsonl"),
                                    ("preference", "plain", "parquet"), ("preference", "conversational", "parquet")):
        result = build(db, project, tmp_path / f"{style}-{file_format}", fmt, preference_style=style,
                       file_format=file_format)
        if file_format == "jsonl":
            rows = [json.loads(line) for line in (result.path / "train.jsonl").read_text().splitlines()]
        else:
            rows = pq.read_table(result.path / "train.parquet").to_pylist()
        texts = [{r[k] if isinstance(r[k], str) else r[k][-1]["content"] for k in ("chosen", "rejected")}
                 for r in rows]
        assert texts and tied_texts not in texts, (fmt, style, file_format, texts)
        assert {"Blue", "Seven"} in texts and {"Red", "Seven"} in texts


def test_breaking_a_tie_takes_an_explicit_choice_and_an_error_keeps_the_order(client, db, make_user, tied):
    _project, inst, (a, b, c) = tied
    login(client, make_user("reviewer").email)
    token = csrf_from(client)
    # The reviewer reorders (C first, B strictly above A) and clears the final response by mistake.
    resp = client.post(f"/review/{inst.id}/approve", data={"csrftoken": token, "ranking": [c, b, a],
                                                           "final_response": "   "})
    assert resp.status_code == 422 and 'data-error="final_response"' in resp.text
    assert _order(resp.text) == [(c, False), (b, False), (a, False)]  # their order, not the consensus
    # Unticking the tie (posting no "tied") is the explicit choice that breaks it.
    resp = client.post(f"/review/{inst.id}/approve", data={"csrftoken": token, "ranking": [b, a, c],
                                                           "final_response": "Red"}, follow_redirects=False)
    assert resp.status_code == 303
    assert db.query(Approval).filter_by(instruction_id=inst.id).one().ranking == [[b], [a], [c]]


def test_top1_reads_a_dash_where_nothing_compares_and_is_counted_apart(client, db, make_user, make_project,
                                                                       make_instruction, annotate):
    project = make_project(name="Agreement")
    one = make_instruction(project, text="Only one annotation.", status=InstructionStatus.submitted)
    bad = make_instruction(project, text="All bad against a ranking.", status=InstructionStatus.submitted)
    both = make_instruction(project, text="Two rankings.", status=InstructionStatus.submitted)
    ids = {inst.id: [c.id for c in inst.candidates] for inst in (one, bad, both)}
    first, second = make_user(), make_user()
    annotate(one, first, ranking=ids[one.id])
    annotate(bad, first, ranking=ids[bad.id])
    annotate(bad, second, all_bad=True)
    for user in (first, second):
        ann = annotate(both, user, ranking=ids[both.id])
        ann.shown_order = ids[both.id][::-1]  # both ranked first the candidate shown last
    login(client, make_user("reviewer").email)
    for inst in (one, bad):
        page = client.get(f"/review/{inst.id}")
        assert 'data-testid="top1" title=' in page.text and ">—<" in page.text
        assert 'data-testid="top1-note"' in page.text
    assert 'data-testid="top1">100%' in client.get(f"/review/{both.id}").text
    figures = client.get("/review", params={"project": project.slug, "status": ""}).text
    summary = re.sub(r"\s+", " ", re.search(r'data-testid="top1-summary">(.*?)</p>', figures, re.S)[1])
    assert "<strong>100%</strong> on average over 1 instruction" in summary and "<strong>2</strong> more" in summary
    bias = re.search(r'data-testid="position-bias">(.*?)</table>', figures, re.S)[1]
    assert ">A<" in bias and ">C<" in bias and "100% <span" in bias  # every first choice was shown third


def test_an_admin_removes_a_candidate_and_its_rankings_follow(client, db, make_user, tied, token_for):
    _project, inst, (a, b, c) = tied
    admin = make_user("admin")
    draft = Annotation(instruction_id=inst.id, user_id=make_user().id, ranking=[c, None, a], ratings={str(a): 2},
                       corrected_candidate_id=a, correction="Blue!", reserved_until=utcnow())
    db.add(draft)
    login(client, admin.email)
    token = csrf_from(client)
    client.post(f"/review/{inst.id}/approve", data={"csrftoken": token, "ranking": [a, b, c], "tied": [b],
                                                     "final_response": "Blue"})
    db.commit()
    resp = client.post(f"/review/{inst.id}/candidates/{a}/remove", data={"csrftoken": token})
    assert resp.status_code == 200 and "approval whose final response it was is withdrawn" in resp.text
    db.expire_all()
    rankings = sorted(x.ranking for x in db.query(Annotation).filter_by(instruction_id=inst.id))
    assert rankings == [[b, c], [b, c], [c, None]]
    assert db.get(Annotation, draft.id).ratings == {} and db.get(Annotation, draft.id).corrected_candidate_id is None
    assert db.get(Annotation, draft.id).correction == "Blue!"
    assert db.query(Approval).filter_by(instruction_id=inst.id).count() == 0
    assert inst.status == InstructionStatus.submitted and [x.id for x in inst.candidates] == [b, c]
    # Through the API: an approval that only ranked the candidate keeps the rest of its order.
    client.post(f"/review/{inst.id}/approve", data={"csrftoken": token, "ranking": [b, c], "final_response": "Red"})
    db.commit()
    gone = client.delete(f"/api/v1/candidates/{c}", headers=token_for(admin))
    assert gone.status_code == 200 and gone.json() == {"candidates": 1, "annotations_changed": 3,
                                                       "approvals_changed": 1, "approvals_withdrawn": 0}
    db.expire_all()
    assert db.query(Approval).filter_by(instruction_id=inst.id).one().ranking == [[b]]
    assert client.delete(f"/api/v1/candidates/{c}", headers=token_for(admin)).status_code == 404
    assert client.delete(f"/api/v1/candidates/{b}", headers=token_for(make_user("reviewer"))).status_code == 403
