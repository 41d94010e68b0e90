"""Script-injection payloads in every rendered field stay text in a real browser."""

from __future__ import annotations

import hashlib

import pytest

from app.models import Candidate, Instruction, Project
from tests.annotation.xss import PAYLOADS, TEXT
from tests.browser.conftest import add_user, sign_in

pytestmark = pytest.mark.browser
INJECTED = ("iframe, svg, style, object, embed, img, script:not([src]), [onerror], [onload], [onmouseover], "
            "[ontoggle], a[href^='javascript']")


def test_payloads_never_become_elements(page, server):
    with server.sessions.begin() as session:
        project = Project(name="Hostile " + PAYLOADS[0], slug="hostile", guidelines=TEXT, settings={})
        session.add(project)
        session.flush()
        ins = Instruction(project_id=project.id, instruction=TEXT, input=TEXT, system=TEXT, source="test",
                          history=[{"role": "user", "content": TEXT}], meta={PAYLOADS[1]: TEXT},
                          content_hash=hashlib.sha256(TEXT.encode()).hexdigest())
        ins.candidates = [Candidate(text=TEXT, model="m"), Candidate(text=TEXT + " 2", model="m")]
        session.add(ins)
    sign_in(page, server, add_user(server))
    for path in ("/", "/projects/hostile", "/projects/hostile/annotate"):
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate(f"document.querySelectorAll({INJECTED!r}).length") == 0, path
    page.fill("#comment", TEXT)
    page.wait_for_selector("#save-status[data-saved=yes]")
    page.reload()
    page.wait_for_load_state("networkidle")
    page.click("summary")
    page.hover(".ann-instruction")
    assert page.input_value("#comment") == TEXT
    assert "<script>window.__xss=1</script>" in page.inner_text("[data-testid=instruction]")
    assert page.evaluate(f"document.querySelectorAll({INJECTED!r}).length") == 0
    assert page.evaluate("window.__xss") is None
