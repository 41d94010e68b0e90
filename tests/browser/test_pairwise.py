"""Human pairwise comparison in a real browser: an annotator compares two answers blind and in random order on
the HHH criteria, by mouse and keys; errors show beside the question; verdicts are stored as the models they were,
and the judge calibration reads them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.evaluation.human import create_comparison, human_outcomes
from app.evaluation.schemas import ComparisonCreate
from app.evaluation.sets import create_set
from app.instructions.selection import InstructionFilter
from app.models import EvaluationAnswer, HumanVerdict, Instruction, Project, VerdictStatus
from tests.browser.conftest import add_user, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def comparison(server) -> dict:
    with server.sessions.begin() as session:
        project = Project(name="Pairwise", slug="pairwise")
        session.add(project)
        session.flush()
        for i in range(2):
            session.add(Instruction(project_id=project.id, instruction=f"Explain idea {i}", content_hash=f"pw{i}"))
        session.flush()
        found = create_set(session, project=project, name="pw-set", rules=InstructionFilter())
        for member in found.items:
            iid = member["instruction_id"]
            session.add_all([EvaluationAnswer(set_id=found.id, model="tuned", instruction_id=iid,
                                              text=f"GOOD answer about {iid}", source="backend"),
                             EvaluationAnswer(set_id=found.id, model="base", instruction_id=iid,
                                              text=f"weak reply on {iid}", source="backend")])
        session.flush()
        made = create_comparison(session, project=project, by=None, data=ComparisonCreate(
            evaluation_set="pw-set", model_a="tuned", model_b="base"))
        return {"id": made.id, "set_id": found.id}


def test_annotator_compares_blind_on_hhh_and_verdicts_map_to_models(page, server, comparison):
    annotator = add_user(server)
    sign_in(page, server, annotator, next_path="/projects/pairwise")
    page.goto(f"{server.url}/projects/pairwise")
    page.click(f'a[data-comparison="{comparison["id"]}"]')
    page.wait_for_url(f"**/comparisons/{comparison['id']}/annotate")
    body = page.inner_text("main")
    assert "tuned" not in body and "base" not in body  # blind: no model names
    assert page.locator(".pair-question").count() == 4  # helpful, honest, harmless, overall

    seen = []
    for _ in range(2):
        left = page.inner_text('[data-testid="left"]')
        good = "left" if "GOOD" in left else "right"
        seen.append(good)
        # Helpful by mouse; then submit with questions unanswered: the errors sit beside them, choices kept.
        page.click(f'label:has(input[name="criterion_helpful"][value="{good}"])')
        page.click("#pair-submit")
        page.wait_for_selector('[data-error="criteria.honest"]')
        assert page.is_checked(f'input[name="criterion_helpful"][value="{good}"]')
        assert "better on honesty" in page.inner_text('[data-error="criteria.honest"]')
        # The rest by keys: honest tie (2), harmless tie (2), overall the good side (1 or 3).
        page.locator('.pair-question[data-key="honest"]').focus()
        page.keyboard.press("2")
        page.keyboard.press("2")
        page.keyboard.press("1" if good == "left" else "3")
        current = page.get_attribute("#pair-task", "data-verdict")
        page.keyboard.press("Control+Enter")
        page.wait_for_function(f"document.querySelector('#pair-task') && "
                               f"document.querySelector('#pair-task').dataset.verdict !== '{current}'")
    assert "Nothing left for you here" in page.inner_text("#pair-task")

    with server.sessions() as session:
        verdicts = session.scalars(select(HumanVerdict).where(HumanVerdict.comparison_id == comparison["id"])).all()
        assert [v.status for v in verdicts] == [VerdictStatus.submitted] * 2
        # Whatever side it was shown on, the GOOD answer is model A's: stored as "a".
        assert all(v.overall == "a" and v.criteria == {"helpful": "a", "honest": "tie", "harmless": "tie"}
                   for v in verdicts)
        outcomes = human_outcomes(session, set_id=comparison["set_id"], model="base", baseline="tuned")
        assert set(outcomes.values()) == {"baseline"} and len(outcomes) == 2
