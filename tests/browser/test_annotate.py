"""The annotator in a real browser: keyboard-only annotation, dragging, correcting, drafts, concurrency."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.models import Annotation, AnnotationStatus
from tests.browser.conftest import add_user, load_user_oriented, sign_in

pytestmark = pytest.mark.browser
GUIDELINES = "# How to rank\n\nPut the **most helpful** answer first.\n\n```python\nprint('code blocks render')\n```"


@pytest.fixture(scope="module")
def project(server) -> str:
    with server.sessions.begin() as session:
        load_user_oriented(session, slug="user-oriented", name="User-oriented tasks", guidelines=GUIDELINES)
    return "user-oriented"


def _task_id(page) -> int:
    return int(page.get_attribute("#task", "data-annotation"))


def _annotation(server, annotation_id: int) -> Annotation:
    with server.sessions() as session:
        return session.get(Annotation, annotation_id)


def _open_task(page, server, project) -> int:
    sign_in(page, server, add_user(server))
    page.goto(f"{server.url}/projects/{project}")
    page.click("#start-btn")
    _ready(page)
    return _task_id(page)


def _ready(page) -> None:
    """The task page's script has run: it focuses the first candidate."""
    page.wait_for_function("document.activeElement && document.activeElement.classList.contains('ann-cand')")


def test_keyboard_only_annotation_and_next_task_without_reload(page, server, project):
    first = _open_task(page, server, project)
    ids = [int(x) for x in page.eval_on_selector_all(".ann-cand", "els => els.map(e => e.dataset.id)")]
    assert len(ids) == 5
    page.evaluate("window.__sameDocument = true")
    # Focus starts on candidate A; rank A..E as 5,4,3,2,1 and rate each, all by keys.
    for n in range(5):
        page.keyboard.press(str(5 - n))
        page.keyboard.press(f"Shift+Digit{n % 5 + 1}")
        page.keyboard.press("j")
    page.keyboard.press("u")
    page.keyboard.press("n")
    page.keyboard.type("A better answer, written by hand.")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    page.keyboard.type("keyboard only")
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    assert page.is_visible("#help-dialog")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(f"document.querySelector('#task').dataset.annotation !== '{first}'")
    assert page.evaluate("window.__sameDocument") is True, "the next task must swap in without a page load"
    assert re.search(rf"/projects/{project}/tasks/\d+$", page.url)
    assert page.inner_text("[data-testid=mine]") == "1"
    done = _annotation(server, first)
    assert done.status == AnnotationStatus.submitted
    assert done.ranking == list(reversed(ids))
    assert done.ratings == {str(cid): n % 5 + 1 for n, cid in enumerate(ids)}
    assert done.flags == ["unsafe"] and done.correction == "A better answer, written by hand."
    assert done.corrected_candidate_id is None and done.comment == "keyboard only"


def test_rank_by_dragging(page, server, project):
    page.set_viewport_size({"width": 1280, "height": 1800})  # every card on screen, so the mouse can reach it
    first = _open_task(page, server, project)
    ids = [int(x) for x in page.eval_on_selector_all(".ann-cand", "els => els.map(e => e.dataset.id)")]
    source = page.locator(".ann-cand").nth(4).locator(".ann-cand-head")
    target = page.locator(".ann-cand").nth(0).locator(".ann-cand-head")
    box_s, box_t = source.bounding_box(), target.bounding_box()
    page.mouse.move(box_s["x"] + 30, box_s["y"] + box_s["height"] / 2)
    page.mouse.down()
    for step in range(1, 21):
        x = box_s["x"] + 30 + (box_t["x"] - box_s["x"] + 5) * step / 20
        y = box_s["y"] + (box_t["y"] - box_s["y"]) * step / 20 + box_s["height"] / 2
        page.mouse.move(x, y)
    page.mouse.up()
    # The dragged card is placed first; the others are ranked by their own keys.
    page.wait_for_function("JSON.parse(document.querySelector('#ranking-input').value).length === 1")
    order = [int(x) for x in page.eval_on_selector_all(".ann-cand", "els => els.map(e => e.dataset.id)")]
    assert order[0] == ids[4] and sorted(order) == sorted(ids)
    assert page.inner_text(f".ann-cand[data-id='{ids[4]}'] [data-rank]") == "1"
    for rank, cid in enumerate(order[1:], start=2):
        page.locator(f".ann-cand[data-id='{cid}']").focus()
        page.keyboard.press(str(rank))
    page.click("#submit-btn")
    page.wait_for_function(f"document.querySelector('#task').dataset.annotation !== '{first}'")
    assert _annotation(server, first).ranking == order


def test_correct_a_response_with_a_diff(page, server, project):
    first = _open_task(page, server, project)
    second = page.locator(".ann-cand").nth(1)
    cid = int(second.get_attribute("data-id"))
    original = second.locator(".ann-original").input_value()
    second.locator("[data-action=edit]").click()
    assert page.input_value("#correction-text") == original
    page.fill("#correction-text", original + "\nA corrected closing line.")
    page.wait_for_selector("#diff .dadd")
    assert "A corrected closing line." in page.inner_text("#diff .dadd")
    page.check("input[name=all_bad]")
    page.click("#submit-btn")
    page.wait_for_function(f"document.querySelector('#task').dataset.annotation !== '{first}'")
    done = _annotation(server, first)
    assert done.corrected_candidate_id == cid and done.all_bad is True
    assert done.correction == original + "\nA corrected closing line."


def test_submit_errors_are_inline(page, server, project):
    first = _open_task(page, server, project)
    page.keyboard.press("1")
    page.click("#submit-btn")
    page.wait_for_selector("[data-error=ranking]")
    assert page.inner_text("[data-error=ranking]") == "Candidates B, C, D and E are not ranked yet"
    assert _task_id(page) == first
    assert page.inner_text(".ann-cand >> nth=0 >> [data-rank]") == "1"


def test_reload_offline_and_closed_tab_lose_nothing(new_page, server, project):
    page = new_page()
    first = _open_task(page, server, project)
    page.keyboard.press("2")
    page.fill("#comment", "before reload")
    page.wait_for_selector("#save-status[data-saved=yes]")
    page.reload()
    _ready(page)
    assert _task_id(page) == first
    assert page.input_value("#comment") == "before reload"
    assert page.inner_text(".ann-cand >> nth=0 >> [data-rank]") == "2"
    # Offline: the draft stays on the device and is resent when the connection returns.
    page.context.set_offline(True)
    page.fill("#comment", "written offline")
    page.wait_for_timeout(1200)
    assert "Offline" in page.inner_text("#save-status")
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_function("document.querySelector('#save-status').dataset.saved === 'yes'")
    assert _annotation(server, first).comment == "written offline"
    # A tab closed before the server heard of the change: the next tab restores it from this device.
    page.context.set_offline(True)
    page.fill("#comment", "closed before saving")
    page.wait_for_timeout(800)
    context = page.context
    page.close()
    context.set_offline(False)
    again = context.new_page()
    again.goto(f"{server.url}/projects/{project}/annotate")
    _ready(again)
    assert again.input_value("#comment") == "closed before saving"
    again.wait_for_function("document.querySelector('#save-status').dataset.saved === 'yes'")
    assert _annotation(server, first).comment == "closed before saving"


def test_two_annotators_at_once_never_share_an_instruction(new_page, server, project):
    pages = [new_page(), new_page()]
    for pg in pages:
        sign_in(pg, server, add_user(server))
    # Both press Start at the same moment: the navigations are fired first, then awaited.
    for pg in pages:
        pg.evaluate(f"location.assign('/projects/{project}/annotate')")
    for pg in pages:
        pg.wait_for_selector("#task-form")
    seen: list[int] = []
    for _ in range(3):
        current = [_task_id(pg) for pg in pages]
        assert current[0] != current[1]
        seen += current
        for pg in pages:
            pg.check("input[name=all_bad]")
        for pg in pages:
            pg.evaluate("document.querySelector('#task-form').requestSubmit()")
        for pg, cur in zip(pages, current, strict=True):
            pg.wait_for_function(f"document.querySelector('#task').dataset.annotation !== '{cur}'")
    with server.sessions() as session:
        ids = [session.get(Annotation, a).instruction_id for a in seen]
        assert len(set(ids)) == len(ids)
        shared = session.execute(
            select(Annotation.instruction_id, func.count()).group_by(Annotation.instruction_id)
            .having(func.count() > 1)).all()
        assert shared == [], f"instructions handed to more than one annotator: {shared}"


def test_incomplete_ranking_names_the_cards_and_one_drag_places_one_card(page, server, project):
    page.set_viewport_size({"width": 1280, "height": 1800})
    first = _open_task(page, server, project)
    cards = page.locator(".ann-cand")
    letters = page.eval_on_selector_all(".ann-cand", "els => els.map(e => e.dataset.letter)")
    assert letters == ["A", "B", "C", "D", "E"]  # lettered by the position this annotator was shown
    # Drag the fifth card to the top: it alone is placed (rank 1); the cards it passed stay unranked.
    source, target = cards.nth(4).locator(".ann-cand-head"), cards.nth(0).locator(".ann-cand-head")
    box_s, box_t = source.bounding_box(), target.bounding_box()
    page.mouse.move(box_s["x"] + 30, box_s["y"] + box_s["height"] / 2)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(box_s["x"] + 30 + (box_t["x"] - box_s["x"] + 5) * step / 20,
                        box_s["y"] + (box_t["y"] - box_s["y"]) * step / 20 + box_s["height"] / 2)
    page.mouse.up()
    page.wait_for_function("JSON.parse(document.querySelector('#ranking-input').value).length === 1")
    assert page.inner_text(".ann-cand >> nth=0 >> [data-rank]") == "1"
    assert [page.inner_text(f".ann-cand >> nth={n} >> [data-rank]") for n in range(1, 5)] == ["–"] * 4
    page.click("#submit-btn")
    page.wait_for_selector("[data-error=ranking]")
    # The four cards nobody placed (E was dragged), by their letters on this page, and marked.
    assert page.inner_text("[data-error=ranking]") == "Candidates A, B, C and D are not ranked yet"
    assert page.eval_on_selector_all(".ann-cand.unranked", "els => els.length") == 4
    assert _task_id(page) == first
    page.keyboard.press("Escape")
    page.locator(".ann-cand.unranked").first.focus()
    page.keyboard.press("2")
    assert page.eval_on_selector_all(".ann-cand.unranked", "els => els.length") == 3  # placed: unmarked


def test_the_task_page_fits_a_phone(page, server, project):
    page.set_viewport_size({"width": 390, "height": 844})
    _open_task(page, server, project)
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => {
        const r = e.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 1;
    }).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert wide == [], wide
    width = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(width[:2]) <= width[2], width
