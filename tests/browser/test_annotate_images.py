"""An annotator corrects a conversation about an image in a real browser: the image beside the turns, an earlier
assistant turn corrected in place, the alternatives for the last turn ranked and rated, all by keyboard."""

from __future__ import annotations

import base64
import secrets

import httpx
import pytest

from app.models import Annotation, AnnotationStatus, Project
from tests.browser.conftest import add_user, sign_in
from tests.images.pictures import png

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def image_project(server) -> dict:
    """A project with one image conversation, pushed through the REST API (the server stores the image)."""
    from app.users.service import create_token, create_user

    slug = f"images-{secrets.token_hex(3)}"
    with server.sessions.begin() as session:
        session.add(Project(name="Image conversations", slug=slug))
        user = create_user(session, email=f"pusher-{slug}@example.com", password="correct horse battery",
                           role="reviewer")
        session.flush()
        token = create_token(session, user=user, name="push").secret
    picture = png(colour=(220, 30, 30), size=(120, 80), mark="bus")
    item = {"external_id": "conv-1", "images": [{"data": "data:image/png;base64," + base64.b64encode(picture).decode(),
                                                 "name": "coco/bus.png"}],
            "history": [{"role": "user", "content": "<image>\nWhat is in the picture?"},
                        {"role": "assistant", "content": "A blue square."}],
            "instruction": "What colour is the background?",
            "candidates": [{"text": "The background is blue.", "model": "a"}, {"text": "It is red.", "model": "b"}]}
    resp = httpx.post(f"{server.url}/api/v1/projects/{slug}/instructions", json={"items": [item]},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return {"slug": slug, "picture": picture}


def test_annotate_an_image_conversation_by_keyboard(page, server, image_project):
    slug = image_project["slug"]
    sign_in(page, server, add_user(server))
    page.goto(f"{server.url}/projects/{slug}/annotate")
    page.wait_for_function("document.activeElement && document.activeElement.classList.contains('ann-cand')")
    # The image is shown (decoded by the browser) beside the conversation, its placeholder marked in the turn.
    image = page.locator("[data-testid=task-image]")
    page.wait_for_function("document.querySelector('[data-testid=task-image]').naturalWidth === 120")
    picture_box, turns_box = image.bounding_box(), page.locator(".ann-history").bounding_box()
    assert picture_box["x"] + picture_box["width"] <= turns_box["x"]
    assert picture_box["y"] < turns_box["y"] + turns_box["height"] and turns_box["y"] < picture_box["y"] + \
        picture_box["height"]
    assert page.locator(".ann-history .ann-image-ref").count() == 1
    assert "<image>" not in page.inner_text(".ann-history")
    annotation_id = int(page.get_attribute("#task", "data-annotation"))
    shown = [int(x) for x in page.eval_on_selector_all(".ann-cand", "els => els.map(e => e.dataset.id)")]
    # Correct the earlier assistant turn: t opens it in place.
    page.keyboard.press("t")
    editor = page.locator("textarea[name=turn_edit_1]")
    assert editor.is_visible() and editor.evaluate("el => el === document.activeElement")
    page.keyboard.press("Control+a")
    page.keyboard.type("A white square on a red background.")
    page.keyboard.press("Escape")
    # Enlarge the image and back.
    page.keyboard.press("v")
    assert "zoomed" in page.get_attribute("#task-images", "class")
    page.keyboard.press("Escape")
    assert "zoomed" not in page.get_attribute("#task-images", "class")
    # Rank the alternatives for the last turn (the second shown first) and rate them, by keys.
    page.keyboard.press("2")
    page.keyboard.press("Shift+Digit2")
    page.keyboard.press("j")
    page.keyboard.press("1")
    page.keyboard.press("Shift+Digit5")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".ann-done")
    with server.sessions() as session:
        done = session.get(Annotation, annotation_id)
        texts = {c.id: c.text for c in done.instruction.candidates}
        assert done.status == AnnotationStatus.submitted
        assert done.turn_edits == {"1": "A white square on a red background."}
        assert done.ranking == [shown[1], shown[0]]
        assert done.ratings == {str(shown[0]): 2, str(shown[1]): 5}
        from app.review.service import approve

        approval = approve(session, instruction=done.instruction, by=None)
        assert approval.history[1] == {"role": "assistant", "content": "A white square on a red background."}
        assert approval.final_response == texts[shown[1]]
        session.rollback()
