"""grounded-eval against scripted models: the share of answerable questions answered and of unanswerable ones
refused, on the held-out passages only, and the run page's before/after figures from such evaluations."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.grounded.records import held_out
from app.jobs.runner import run_job
from app.models import Instruction, Job, JobStatus, Passage, Project, RunState, TuningRun
from tests.grounded.conftest import REFUSAL, create
from tests.support.openai_server import ScriptedServer, chat_reply, last_user_text

MARK = re.compile(r"FACT-\d+")


def _never_refuses(path, body, headers):
    return chat_reply("It is surely somewhere in there.")


def _grounded_student(path, body, headers):
    """Answers when the question's marker is in the passage, else says the refusal it was told in the system turn."""
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    question, _, context = last_user_text(body).partition("\n\n")
    asked = MARK.search(question)
    if asked and asked.group() in context and "painted" not in question:
        return chat_reply(f"{asked.group()} is described in the context.")
    return chat_reply(re.search(r"Say '(.+?)' when", system).group(1) + ".")


def _seed_with_some_held_out(keys: list[str]) -> int:
    return next(s for s in range(100) if 1 <= sum(held_out(k, 0.5, s) for k in keys) <= len(keys) - 1)


def test_eval_on_held_out_passages_and_the_run_page_shows_before_and_after(seeded, scripted, collection):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.conftest import login
    from tests.tuning.conftest import make_snapshot

    maker = get_sessionmaker()
    with maker() as session:
        keys = list(session.scalars(select(Passage.key).where(Passage.project_id == seeded["project"])))
    seed = _seed_with_some_held_out(keys)
    seeded["backend"]("teacher", scripted.url, max_concurrency=4)
    build = create(seeded, "grounded-qa", {"question_backend": "teacher", "answer_backend": "teacher",
                                           "invented": True, "refusal": REFUSAL, "holdout_fraction": 0.5,
                                           "seed": seed})
    run_job(build)
    with maker() as session:
        items = session.scalars(select(Instruction).where(Instruction.job_id == build)).all()
        by_passage: dict[int, set[str]] = {}
        for item in items:
            by_passage.setdefault(item.meta["passage_id"], set()).add(item.split.value)
        assert all(len(splits) == 1 for splits in by_passage.values())  # a passage is held out whole
        held = [i for i in items if i.split.value == "holdout"]
        assert 0 < len(held) < len(items)
        assert session.get(Job, build).result["held_out_passages"] == sum(s == {"holdout"} for s in
                                                                          by_passage.values())
        expected = {True: sum(i.meta["answerable"] for i in held), False: sum(not i.meta["answerable"] for i in held)}
        export = make_snapshot(session, session.get(Project, seeded["project"]))
        run = TuningRun(project_id=seeded["project"], export_id=export.id, method="sft-lora",
                        base_model="/models/base", state=RunState.succeeded)
        session.add(run)
        session.commit()
        run_id = run.id

    with ScriptedServer(_never_refuses) as base, ScriptedServer(_grounded_student) as tuned:
        seeded["backend"]("base", base.url)
        seeded["backend"]("tuned", tuned.url)
        before = create(seeded, "grounded-eval", {"backend": "base", "for_run": run_id, "side": "before"})
        after = create(seeded, "grounded-eval", {"backend": "tuned", "for_run": run_id, "side": "after"})
        run_job(before)
        run_job(after)
        asked = [last_user_text(b) for b in tuned.bodies()]
    with maker() as session:
        low, high = session.get(Job, before), session.get(Job, after)
        assert low.status == high.status == JobStatus.succeeded, (low.error, high.error)
        assert (low.result["answerable"], low.result["unanswerable"]) == (expected[True], expected[False])
        assert (low.result["answered_share"], low.result["refused_share"]) == (1.0, 0.0)
        assert (high.result["answered"], high.result["refused"]) == (expected[True], expected[False])
        assert (high.result["answered_share"], high.result["refused_share"]) == (1.0, 1.0)
        assert (high.result["for_run"], high.result["side"], high.result["prompt"]) == (run_id, "after", "chat")
    # Only held-out items were asked, each once, with the passage in the user turn.
    assert sorted(asked) == sorted(f"{i.instruction}\n\n{i.input}" for i in held)

    from app.models import User

    with maker() as session:
        email = session.get(User, seeded["admin"]).email
    with TestClient(create_app()) as client:
        login(client, email)
        page = client.get(f"/runs/{run_id}")
        assert page.status_code == 200
        panel = page.text.split('id="grounded-eval"', 1)[1]
        refused = re.search(r'data-row="refused_share">.*?</tr>', panel, re.S).group(0)
        assert re.findall(r'data-side="(\w+)">([^<]+)<', refused) == [("before", "0.0 %"), ("after", "100.0 %")]
        assert f"/jobs/{before}" in panel and f"/jobs/{after}" in panel
        # The panel links to a pre-filled evaluation of the tuned run.
        link = re.search(r'href="(/jobs/new\?[^"]*side=after)"', panel).group(1).replace("&amp;", "&")
        form = client.get(link).text
        assert re.search(rf'<option value="run-{run_id}"[^>]*selected', form)
        assert re.search(rf'name="for_run"[^>]*value="{run_id}"', form)

