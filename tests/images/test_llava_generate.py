"""llava-generate: a teacher (a scripted OpenAI-compatible server) reads captions and boxes through LLaVA's
prompts and writes the three kinds of data; each becomes an instruction about the same image."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.images.conversation import placeholder_problems
from app.jobs.runner import run_job
from app.llava.prompts import DETAIL_QUESTIONS, SYSTEM
from app.models import Candidate, Image, Instruction, Job, JobStatus, Project
from app.users.service import create_user
from tests.jobs.conftest import create
from tests.support.openai_server import Reply, ScriptedServer, chat_reply

IMAGE_ID = "ab" * 32
BOXED = [{"id": IMAGE_ID, "name": "coco/bus.jpg", "captions": ["A red bus on a city street.", "A bus stops."],
          "boxes": [{"label": "bus", "bbox": [0.1, 0.2, 0.9, 0.8]}, {"label": "person", "bbox": [0.0, 0.5, 0.1, 1.0]}]}]
ANSWERS = {
    "conversation": "Question:\nWhat colour is the bus?\n===\nAnswer:\nRed.\n===\nQuestion:\nWhere is it?\n===\n"
                    "Answer:\nOn a city street.",
    "detail": "A red bus stands on a city street while a person waits on the left.",
    "complex": "Question:\nWhy might the person be waiting?\n===\nAnswer:\nThey are likely about to board the bus.",
}


def _kind_of(body: dict) -> str:
    system = body["messages"][0]["content"]
    return next(kind for kind, text in SYSTEM.items() if text == system)


def test_three_kinds_from_captions_and_boxes_with_a_response_format_suffix(live):
    maker = get_sessionmaker()
    with maker() as session:
        admin = create_user(session, email=f"a-{secrets.token_hex(3)}@example.com", password="correct horse battery",
                            role="admin")
        project = Project(name="LLaVA gen", slug=f"gen-{secrets.token_hex(3)}")
        session.add_all([project, Image(sha256=IMAGE_ID, format="jpeg", width=64, height=48, size_bytes=100)])
        session.flush()
        session.add(Instruction(project_id=project.id, instruction="<image>\nWhat is this?", images=BOXED,
                                content_hash="seed", meta={"response_format": "Answer the question using a single "
                                                                               "word or phrase."}))
        session.add(Instruction(project_id=project.id, instruction="A text-only one", content_hash="text"))
        session.commit()
        seeded = {"admin": admin.id, "slug": project.slug}
    with ScriptedServer() as teacher:
        teacher.script = lambda path, body, headers: Reply(json=chat_reply(ANSWERS[_kind_of(body)]).json)
        with maker() as session:
            from app.models import Backend

            session.add(Backend(name="gpt4", kind="openai", base_url=teacher.url, model="teacher-1", limits={}))
            session.commit()
        job_id = create(seeded, "llava-generate", {"backend": "gpt4", "temperature": 0, "seed": 1})
        run_job(job_id)
        bodies = teacher.bodies()
    with maker() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        assert job.result["instructions_added"] == 3
        assert len(bodies) == 3  # the text-only instruction has nothing to generate from
        context = bodies[0]["messages"][-1]["content"]
        assert context == ("A red bus on a city street.\nA bus stops.\n\nbus: [0.100, 0.200, 0.900, 0.800]\n"
                           "person: [0.000, 0.500, 0.100, 1.000]")
        rows = session.scalars(select(Instruction).where(Instruction.job_id == job_id))
        made = {i.meta["llava_kind"]: i for i in rows}
        conversation = made["conversation"]
        suffix = "\nAnswer the question using a single word or phrase."
        assert conversation.history == [
            {"role": "user", "content": "<image>\nWhat colour is the bus?" + suffix},
            {"role": "assistant", "content": "Red."}]
        assert conversation.instruction == "Where is it?" + suffix
        assert conversation.images == BOXED and conversation.construction == "distilled"
        assert (conversation.backend, conversation.model) == ("gpt4", "teacher-1")
        detail = made["detail"]
        assert detail.instruction.removeprefix("<image>\n") in DETAIL_QUESTIONS and not detail.history
        assert made["complex"].instruction == "<image>\nWhy might the person be waiting?" + suffix
        cands = session.scalars(select(Candidate).where(Candidate.job_id == job_id))
        answers = {c.instruction_id: c.text for c in cands}
        assert answers[conversation.id] == "On a city street." and answers[detail.id] == ANSWERS["detail"]
        for inst in made.values():
            item = {"instruction": inst.instruction, "history": inst.history, "images": inst.images}
            assert placeholder_problems(item) == []
