"""The reviewer in a real browser: open the review list, open an item two annotators submitted, reorder,
edit the final response, approve; then the approved pair is visible through the REST API."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from app.models import Instruction
from app.users.service import create_token, get_user_by_email
from tests.browser.conftest import add_user, load_user_oriented, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def project(server) -> str:
    with server.sessions.begin() as session:
        load_user_oriented(session, slug="review-data", name="User-oriented review",
                           settings={"min_submitted": 2})
    return "review-data"


def _bearer(server, email: str) -> dict[str, str]:
    with server.sessions.begin() as session:
        issued = create_token(session, user=get_user_by_email(session, email), name="browser test")
        return {"Authorization": f"Bearer {issued.secret}"}


def test_reviewer_approves_and_the_pair_is_in_the_api(page, server, project):
    with server.sessions() as session:
        inst = session.scalars(select(Instruction).where(Instruction.external_id == "user_oriented_task_3")).one()
        inst_id, cand = inst.id, [c.id for c in inst.candidates]
    # Two annotators' feedback, pushed through the REST API as feedback gathered elsewhere.
    first, second = _bearer(server, add_user(server)), _bearer(server, add_user(server))
    for headers, ranking, extra in (
        (first, [cand[2], cand[1], cand[0], cand[3], cand[4]], {"comment": "C reads best."}),
        (second, [cand[2], cand[0], cand[1], cand[4], cand[3]], {"correction": "A cleaner answer.",
                                                                 "corrected_candidate_id": cand[2]}),
    ):
        resp = httpx.post(f"{server.url}/api/v1/instructions/{inst_id}/annotations", headers=headers,
                          json={"ranking": ranking, **extra})
        assert resp.status_code == 201, resp.text

    reviewer = add_user(server, "reviewer")
    sign_in(page, server, reviewer, next_path="/review")
    page.goto(f"{server.url}/review?project={project}")
    row = page.locator(f'a[href="/review/{inst_id}"]')
    row.click()
    page.wait_for_url(f"**/review/{inst_id}")
    assert page.locator('[data-testid="annotation"]').count() == 2
    assert page.inner_text('[data-testid="top1"]') == "100%"
    assert "cleaner" in " ".join(page.locator(".diff ins").all_inner_texts())  # the correction, as a diff

    # The order starts from the consensus (C first); move the second item to the top by keyboard.
    order = page.locator("#order-list .sort-item")
    assert int(order.nth(0).get_attribute("data-id")) == cand[2]
    second_id = int(order.nth(1).get_attribute("data-id"))
    order.nth(1).focus()
    page.keyboard.press("Alt+ArrowUp")
    assert int(page.locator("#order-list .sort-item").nth(0).get_attribute("data-id")) == second_id
    # And drag the last one to second place (SortableJS).
    items = page.locator("#order-list .sort-item")
    last_id = int(items.nth(4).get_attribute("data-id"))
    items.nth(4).drag_to(items.nth(1))
    page.wait_for_function(f"document.querySelectorAll('#order-list .sort-item')[1].dataset.id === '{last_id}'")
    # It was tied with the one above it; moved, it is tied to nothing (a drop never makes a tie).
    page.wait_for_function("!document.querySelectorAll('#order-list .sort-item')[1]"
                           ".querySelector('[name=tied]').checked")
    page.fill("#final-response", "The reviewer's final answer.")
    page.click('[data-testid="approve"]')
    page.wait_for_url(f"**/review/{inst_id}?done=approved")
    assert page.inner_text('[data-testid="status"]') == "approved"

    approval = httpx.get(f"{server.url}/api/v1/instructions/{inst_id}/approval", headers=_bearer(server, reviewer))
    assert approval.status_code == 200, approval.text
    body = approval.json()
    assert body["final_response"] == "The reviewer's final answer." and body["method"] == "adjudicated"
    assert body["ranking"][:3] == [[second_id], [last_id], [cand[2]]]
    assert [second_id, cand[2]] in body["preference_pairs"] and [last_id, cand[2]] in body["preference_pairs"]
    detail = httpx.get(f"{server.url}/api/v1/instructions/{inst_id}", headers=_bearer(server, reviewer))
    assert detail.status_code == 200 and detail.json()["status"] == "approved"


def _annotated(server, external_id: str, rankings) -> tuple[int, list[int]]:
    """An instruction of the module's project with one annotation pushed per ranking (as index lists)."""
    with server.sessions() as session:
        inst = session.scalars(select(Instruction).where(Instruction.external_id == external_id)).one()
        inst_id, cand = inst.id, [c.id for c in inst.candidates]
    for ranking in rankings:
        resp = httpx.post(f"{server.url}/api/v1/instructions/{inst_id}/annotations",
                          headers=_bearer(server, add_user(server)), json={"ranking": [cand[i] for i in ranking]})
        assert resp.status_code == 201, resp.text
    return inst_id, cand


def _order(page) -> list[tuple[int, bool]]:
    return page.eval_on_selector_all("#order-list .sort-item", "els => els.map(e => [Number(e.dataset.id), "
                                     "e.querySelector('input[name=tied]').checked])")


def test_approve_keeps_ties_and_the_reviewers_order_through_an_error(page, server, project):
    # Two annotators swap the first two places: the consensus ties them.
    inst_id, cand = _annotated(server, "user_oriented_task_5", ([0, 1, 2, 3, 4], [1, 0, 2, 3, 4]))
    sign_in(page, server, add_user(server, "reviewer"), next_path=f"/review/{inst_id}")
    page.goto(f"{server.url}/review/{inst_id}")
    assert [tuple(x) for x in _order(page)][:2] == [(cand[0], False), (cand[1], True)]  # shown tied
    # The reviewer moves the last candidate to the top by keyboard (a step jumps the tie as one), and
    # clears the final response.
    page.locator("#order-list .sort-item").nth(4).focus()
    for _ in range(3):
        page.keyboard.press("Alt+ArrowUp")  # the moved item keeps the focus
    before = [tuple(x) for x in _order(page)]
    assert before[0] == (cand[4], False) and before[1:3] == [(cand[0], False), (cand[1], True)]
    page.fill("#final-response", "   ")
    page.click('[data-testid="approve"]')
    page.wait_for_selector("[data-error=final_response]")
    assert "The final response is empty." in page.inner_text("[data-error=final_response]")
    assert [tuple(x) for x in _order(page)] == before  # the reordering survived the error, ties and all
    page.fill("#final-response", "An approved answer.")
    page.click('[data-testid="approve"]')
    page.wait_for_url(f"**/review/{inst_id}?done=approved")
    body = httpx.get(f"{server.url}/api/v1/instructions/{inst_id}/approval",
                     headers=_bearer(server, add_user(server, "reviewer"))).json()
    assert body["ranking"][:2] == [[cand[4]], sorted([cand[0], cand[1]])]
    assert [cand[0], cand[1]] not in body["preference_pairs"] and [cand[1], cand[0]] not in body["preference_pairs"]


def test_reject_asks_first_and_a_dismissed_question_changes_nothing(page, server, project):
    # The confirmation is a data-confirm attribute read by app.js (no inline handler a name could break out of).
    inst_id, _ = _annotated(server, "user_oriented_task_7", ([0, 1, 2, 3, 4],))
    sign_in(page, server, add_user(server, "reviewer"), next_path=f"/review/{inst_id}")
    page.goto(f"{server.url}/review/{inst_id}")
    asked: list[str] = []

    def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.click('[data-testid="reject"]')
    page.wait_for_timeout(300)
    assert asked == ["Reject this instruction? It will yield no training data."]
    assert page.url.endswith(f"/review/{inst_id}") and page.inner_text('[data-testid="status"]') != "rejected"
    page.once("dialog", lambda d: answer(d, True))
    page.click('[data-testid="reject"]')
    page.wait_for_url(f"**/review/{inst_id}?done=rejected")
    assert len(asked) == 2 and page.inner_text('[data-testid="status"]') == "rejected"


def _fits(page, table: str) -> dict:
    """Whether `table` shows all its columns without scrolling, and the page no sideways scroll."""
    return page.evaluate("""(sel) => {
        const t = document.querySelector(sel), wrap = t.closest('.table-wrap') || t.parentElement;
        return {table: t.scrollWidth, room: wrap.clientWidth, page: document.documentElement.scrollWidth,
                view: window.innerWidth};
    }""", table)


def test_instructions_and_review_tables_fit_a_laptop(page, server, project):
    _annotated(server, "user_oriented_task_7", ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0]))
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, server, add_user(server, "admin"), next_path="/admin/instructions")
    for path, table in ((f"/admin/instructions?project={project}", "#bulk-form .table"),
                        (f"/review?project={project}&status=", ".review-table")):
        page.goto(server.url + path)
        sizes = _fits(page, table)
        assert sizes["table"] <= sizes["room"] and sizes["page"] <= sizes["view"], (path, sizes)
        last = page.locator(f"{table} thead th").last.bounding_box()
        assert last["x"] + last["width"] <= 1366, (path, last)
