"""Issue 14's whole grounded-QA loop in Chromium: an admin uploads a folder of documents, adds a scripted teacher
as an OpenAI-compatible backend, builds grounded QA from the collection's page, an annotator reviews every item
beside its passage (flagging two answers with a detail the passage lacks, correcting one), the admin as reviewer
decides the flagged answer left uncorrected, exports the reviewed items in txtinstruct's format, trains the tiny
model on them, evaluates its base model and the tuned model on the held-out passages from the run page's
buttons, and the run page shows the refusal rate on unanswerable questions rising.

The worker is real (both queues), and so is the model server that serves the base model (a `local` backend)
and the tuned run (`run-<id>`) to the evaluation jobs."""

from __future__ import annotations

import json
import re
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import Server, add_user, sign_in, train_from_form, wait_until
from tests.support.openai_server import ScriptedServer, chat_reply, last_user_text

pytestmark = [pytest.mark.browser, pytest.mark.training]
REFUSAL = "I don't have data on that"  # the default, and what txtinstruct's training prompt names
# One short document per fact; each becomes one passage. Eight passages: six to train on, two held out.
FACTS = {"lighthouse": ("The Arden lighthouse", "red"), "ferry": ("The harbour ferry", "green"),
         "bridge": ("The Old Mill bridge", "grey"), "tram": ("The city tram", "yellow"),
         "library": ("The county library", "white"), "market": ("The Sunday market hall", "blue"),
         "chapel": ("The hill chapel", "brown"), "bakery": ("The corner bakery", "orange")}
HELD_OUT = 2
TRAIN_ITEMS = 2 * (len(FACTS) - HELD_OUT)  # a question and a borrowed unanswerable question per trained passage
# The teacher adds a detail no passage has to two answers: the annotator corrects one and only flags the other.
INVENTED = {"bridge": " and was built in 1820", "tram": " and runs all night"}
CORRECTED = "The passage only says the bridge is grey."
REVIEWED = "The city tram is yellow."


def _teacher(path: str, body: dict, headers: dict) -> object:
    """Asked for a question, it asks the colour of the passage's subject; asked to answer, it answers from the
    context when the question's subject is there (inventing a detail for two subjects), else says the refusal."""
    prompt = last_user_text(body)
    if prompt.startswith("Generate a question"):
        key = next(k for k in FACTS if k in prompt.split("### Context:", 1)[1])
        return chat_reply(f"What colour is the {key}?")
    if prompt.startswith("Answer the following question"):
        question, _, context = prompt.split("Question: ", 1)[1].partition("\nContext: ")
        key = re.search(r"the (\w+)\?", question).group(1)
        if key not in context:
            return chat_reply(REFUSAL)
        return chat_reply(f"{FACTS[key][0]} is {FACTS[key][1]}{INVENTED.get(key, '')}.")
    return None  # nothing else is asked (no title statements, no invented questions)
    return None


@pytest.fixture
def teacher() -> Iterator[ScriptedServer]:
    with ScriptedServer(_teacher) as scripted:
        yield scripted


@pytest.fixture
def worker(model_server: Path, flow_worker: Path) -> Path:
    """The real worker, started once the model server's address is in the environment."""
    return flow_worker


def _project(server: Server) -> str:
    """A project whose rule approves an item once one annotator has submitted it: the annotator is the review."""
    from app.models import Project

    slug = f"grounded-{secrets.token_hex(3)}"
    with server.sessions.begin() as session:
        session.add(Project(name=f"Grounded {slug}", slug=slug,
                            settings={"auto_approve": {"min_annotations": 1, "min_top1_agreement": 0}}))
    return slug


def _document_folder(tmp_path: Path) -> list[Path]:
    """A folder of the user's own documents, Markdown and plain text."""
    folder = tmp_path / "handbook"
    folder.mkdir()
    files = []
    for n, (key, (subject, colour)) in enumerate(FACTS.items()):
        path = folder / f"{key}.{'md' if n % 2 else 'txt'}"
        text = f"{subject} is {colour}. Visitors to the {key} often remark on it."
        path.write_text(f"# {subject}\n\n{text}\n" if n % 2 else text + "\n", encoding="utf-8")
        files.append(path)
    return files


def _seed_holding_out(server: Server, slug: str, count: int, fraction: float) -> int:
    """The job's seed for which exactly `count` passages are held out (the draw is per passage key), none of
    them one whose answer the annotator and the reviewer are to see."""
    from app.grounded.records import held_out
    from app.models import Document, Passage, Project

    with server.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == slug)).one()
        keys = dict(session.execute(select(Passage.key, Document.name).join(Document)
                                    .where(Passage.project_id == project.id)).tuples().all())

    def held(seed: int) -> list[str]:
        return [Path(name).stem for key, name in keys.items() if held_out(key, fraction, seed)]

    return next(s for s in range(10_000) if len(held(s)) == count and not set(held(s)) & set(INVENTED))


def _job_id(page) -> int:
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    return int(page.url.rstrip("/").rsplit("/", 1)[-1])


def _succeeded(page) -> bool:
    status = page.locator("#job-status [data-status]").inner_text()
    assert status not in ("failed", "cancelled"), page.inner_text("main")[:3000]
    return status == "succeeded"


def _upload(page, server: Server, slug: str, files: list[Path]) -> None:
    page.goto(f"{server.url}/projects/{slug}/documents")
    page.set_input_files("#d-files", [str(f) for f in files])
    page.fill("#d-licence", "CC-BY-4.0")
    page.click("form button:has-text('Upload')")
    page.locator("#upload-outcomes").wait_for()
    assert page.locator("[data-outcome=stored]").count() == len(FACTS), page.inner_text("#upload-outcomes")
    assert page.inner_text("[data-testid=doc-count]") == str(len(FACTS))
    assert page.inner_text("[data-testid=passage-count]") == str(len(FACTS))
    # The full-text index answers the search box.
    page.fill("#d-q", "lighthouse red")
    page.click("button:has-text('Search')")
    page.locator("#search-results li[data-passage]").first.wait_for()
    assert page.locator("#search-results li[data-passage]").count() == 1


def _add_backend(page, server: Server, name: str, kind: str, model: str, base_url: str = "") -> None:
    page.goto(f"{server.url}/admin/backends/new")
    page.fill("#name", name)
    page.select_option("#kind", kind)
    if base_url:
        page.fill("#base_url", base_url)
    page.fill("#model", model)
    page.click("main button:has-text('Add backend')")
    page.wait_for_url("**/admin/backends?**")


def _build_grounded_qa(page, server: Server, slug: str, seed: int, worker: Path) -> int:
    page.goto(f"{server.url}/projects/{slug}/documents")
    page.click("text=Build grounded QA")
    page.wait_for_url("**/jobs/new?**kind=grounded-qa")
    page.select_option("#p-question_backend", "teacher")
    page.select_option("#p-answer_backend", "teacher")
    page.fill("#p-holdout_fraction", "0.25")
    page.fill("#p-seed", str(seed))
    page.click("button:has-text('Start job')")
    job = _job_id(page)
    wait_until(page, server, f"/jobs/{job}", _succeeded, timeout=120, what="the grounded-qa job", worker_log=worker)
    assert page.inner_text("[data-result=passages]") == f"{len(FACTS)} ({HELD_OUT} held out for evaluation)"
    assert page.inner_text("[data-result=answerable]") == str(len(FACTS))  # one question per passage
    assert page.inner_text("[data-result=unanswerable]") == str(len(FACTS))  # one borrowed question per passage
    return job


def _review_everything(page, server: Server, slug: str) -> int:
    """The annotator goes through the queue: each item's passage beside its question and answer. An answer with
    a detail the passage lacks is flagged as not supported (the bridge's is corrected too, the tram's is left to
    a reviewer); the rest are accepted as they are. Held-out passages' items are not in the queue (they are for
    evaluation). Returns how many items were done."""
    sign_in(page, server, add_user(server), f"/projects/{slug}/annotate")
    page.goto(f"{server.url}/projects/{slug}/annotate")
    done = 0
    while page.locator(".ann-done").count() == 0:
        page.wait_for_function("document.activeElement && document.activeElement.classList.contains('ann-cand')")
        task = page.get_attribute("#task", "data-annotation")
        assert page.locator("[data-testid=grounded] [data-testid=passage]").count() == 1
        question = page.inner_text("[data-testid=grounded] [data-testid=instruction]")
        answerable = "unanswerable" not in page.get_attribute("[data-testid=answerable]", "class")
        answer = page.inner_text(".ann-cand-body")
        assert (answer.strip() == REFUSAL) != answerable, (question, answer)
        page.keyboard.press("1")
        if any(detail in answer for detail in INVENTED.values()):
            page.keyboard.press("o")
        if "1820" in answer:
            page.keyboard.press("n")
            page.keyboard.type(CORRECTED)
            page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
        page.wait_for_function(f"!document.querySelector('#task[data-annotation=\"{task}\"]')")
        done += 1
        assert done <= TRAIN_ITEMS
    return done


def _review_the_flagged_answer(page, server: Server, slug: str) -> None:
    """The admin, as reviewer, finds the one answer flagged as not supported and left uncorrected (it was not
    approved by the project's rule), and approves it with only what the passage says."""
    page.goto(f"{server.url}/review?project={slug}")
    page.select_option("#f-flag", "unsupported")
    page.click("button:has-text('Filter')")
    flagged = page.locator("#results a[href^='/review/']")
    expect(flagged).to_have_count(1)
    assert flagged.inner_text().strip() == "What colour is the tram?"
    flagged.click()
    page.wait_for_url(re.compile(r".*/review/\d+$"))
    assert "Not supported by the passage" in page.inner_text("main")
    page.fill("#final-response", REVIEWED)
    page.click('[data-testid="approve"]')
    page.wait_for_url("**?done=approved")
    assert page.inner_text('[data-testid="status"]') == "approved"


def _export(page, server: Server, slug: str, tmp_path: Path) -> list[dict]:
    """Export the reviewed items in txtinstruct's format from the page; the rows of the downloaded train file."""
    page.goto(f"{server.url}/exports")
    page.select_option("#x-project", slug)
    page.select_option("#x-format", "txtinstruct")
    page.fill("#x-eval", "0")
    page.click("button:has-text('Create export')")
    page.wait_for_url("**/exports/*")
    page.wait_for_selector("[data-status=succeeded]", timeout=60_000)
    assert page.locator("tr:has-text('train.jsonl') td").nth(2).inner_text() == str(TRAIN_ITEMS)
    with page.expect_download() as download:
        page.click("text=Download zip")
    target = tmp_path / "export.zip"
    download.value.save_as(target)
    with zipfile.ZipFile(target) as archive:
        name = next(n for n in archive.namelist() if n.endswith("/train.jsonl"))
        return [json.loads(line) for line in archive.read(name).decode().splitlines()]


def _evaluate(page, server: Server, run: int, button: str, backend: str, worker: Path) -> None:
    page.goto(f"{server.url}/runs/{run}")
    page.click(f"#grounded-eval a:has-text('{button}')")
    page.wait_for_url("**/jobs/new?**kind=grounded-eval**")
    page.select_option("#p-backend", backend)
    page.fill("#p-max_tokens", "24")
    page.click("button:has-text('Start job')")
    job = _job_id(page)
    wait_until(page, server, f"/jobs/{job}", _succeeded, timeout=180, what=f"the {backend} evaluation",
               worker_log=worker)
    # Every held-out passage was asked its own question and a borrowed one.
    assert page.inner_text("[data-result=answered_share]").endswith(f" of {HELD_OUT})")
    assert page.inner_text("[data-result=refused_share]").endswith(f" of {HELD_OUT})")


def _share(page, row: str, side: str) -> float:
    text = page.inner_text(f"#grounded-eval tr[data-row={row}] td[data-side={side}]")
    assert text.endswith(" %"), text
    return float(text.removesuffix(" %"))


@pytest.mark.one_database("sqlite")
def test_documents_to_grounded_qa_to_a_tuned_model_that_refuses_more(server, page, new_page, teacher, worker,
                                                                     tiny_model, tmp_path):
    slug = _project(server)
    sign_in(page, server, add_user(server, "admin"), f"/projects/{slug}/documents")
    _upload(page, server, slug, _document_folder(tmp_path))
    _add_backend(page, server, "teacher", "openai", "teacher-1", teacher.url)
    _add_backend(page, server, "tiny-base", "local", str(tiny_model))
    seed = _seed_holding_out(server, slug, HELD_OUT, 0.25)
    _build_grounded_qa(page, server, slug, seed, worker)

    assert _review_everything(new_page(), server, slug) == TRAIN_ITEMS

    _review_the_flagged_answer(page, server, slug)
    rows = _export(page, server, slug, tmp_path)
    targets = [statement["target"] for row in rows for statement in row["statements"]]
    assert len(targets) == TRAIN_ITEMS and targets.count(REFUSAL) == TRAIN_ITEMS // 2
    assert CORRECTED in targets and REVIEWED in targets  # the annotator's correction, the reviewer's decision
    assert not [t for t in targets if any(detail in t for detail in INVENTED.values())]  # no invented detail
    # A high learning rate and 40 steps of 4 on the 12 rows (a few seconds on two cores) are what it takes the
    # random tiny model to learn to say the refusal.
    run = train_from_form(page, server, model=tiny_model, worker=worker, evaluate=False, max_steps="40",
                          max_length="192", save_steps="40")
    _evaluate(page, server, run, "Evaluate the base model", "tiny-base", worker)
    _evaluate(page, server, run, "Evaluate the tuned model", f"run-{run}", worker)

    # The random base model never says the refusal; the tuned one has learned to (the tiny model learns it
    # for every question, so its answered share falls: both figures are shown, only the refusal rate is claimed).
    page.goto(f"{server.url}/runs/{run}")
    for side in ("before", "after"):
        _share(page, "answered_share", side)
    before, after = _share(page, "refused_share", "before"), _share(page, "refused_share", "after")
    assert after > before, page.inner_text("#grounded-eval")
