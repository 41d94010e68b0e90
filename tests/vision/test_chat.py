"""The tuned tiny vision model answers a question about an image through /v1 chat: the web app (token, image
checks, image ids resolved) in front of a real model server process, serving the run's adapter as run-<id>."""

from __future__ import annotations

import base64
import secrets

import pytest

from tests.conftest import reset_app_caches
from tests.images.pictures import png, png_bomb
from tests.serving.conftest import ModelServer

pytestmark = pytest.mark.slow


@pytest.fixture
def live_sqlite(sqlite_url, monkeypatch):
    """The app on the committed SQLite test database (the /v1 path is the same on PostgreSQL, which
    tests/serving covers; the vision part does not touch the database)."""
    from tests.conftest import _truncate_all

    monkeypatch.setenv("TUNELOOP_DATABASE_URL", sqlite_url)
    reset_app_caches()
    yield sqlite_url
    reset_app_caches()
    _truncate_all(sqlite_url)


@pytest.fixture
def vision_served(live_sqlite, vision_run, tiny_vision_model, llava_snapshot, monkeypatch):
    from fastapi.testclient import TestClient

    from app.core.db import get_sessionmaker
    from app.main import create_app
    from app.models import Export, ExportStatus, Project, RunState, TuningRun
    from app.users.service import create_token, create_user

    server = ModelServer(live_sqlite)
    monkeypatch.setenv("TUNELOOP_MODEL_SERVER_URL", server.url)
    reset_app_caches()
    with get_sessionmaker()() as session:
        user = create_user(session, email=f"v-{secrets.token_hex(3)}@example.com", password="correct horse battery",
                           role="reviewer")
        token = create_token(session, user=user, name="vision").secret
        project = Project(name="Vision chat", slug=f"vision-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        export = Export(project_id=project.id, version=1, format="llava", status=ExportStatus.succeeded,
                        path=str(llava_snapshot), options={}, files=[], row_counts={})
        session.add(export)
        session.flush()
        run = TuningRun(project_id=project.id, export_id=export.id, method="vlm-lora", state=RunState.succeeded,
                        base_model=str(tiny_vision_model),
                        artifacts=[{"name": "adapter", "path": str(vision_run["output"] / "adapter"), "size_bytes": 1}])
        session.add(run)
        session.commit()
        run_id = run.id
    try:
        with TestClient(create_app(), raise_server_exceptions=False) as client:
            yield client, {"Authorization": f"Bearer {token}"}, f"run-{run_id}"
    finally:
        server.stop()


def _reference(model_dir, adapter_dir, image_bytes: bytes, question: str, max_tokens: int) -> str:
    """Greedy generate in-process: base model with the adapter merged, the image through the processor."""
    import io

    import torch
    from peft import PeftModel
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(adapter_dir)
    model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(model_dir), adapter_dir)
    model = model.merge_and_unload().eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt",
                                           images=[Image.open(io.BytesIO(image_bytes)).convert("RGB")])
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False)
    ids = [int(t) for t in out[0][inputs["input_ids"].shape[1]:]]
    eos = processor.tokenizer.eos_token_id
    return processor.tokenizer.decode(ids[:ids.index(eos)] if eos in ids else ids, skip_special_tokens=True)


def _ask(client, headers, model: str, url: str, **extra):
    body = {"model": model, "max_tokens": 8, "temperature": 0, **extra, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "What colour is the square?"}]}]}
    return client.post("/v1/chat/completions", json=body, headers=headers)


def test_tuned_vision_model_answers_about_an_image(vision_served, vision_run, tiny_vision_model):
    client, headers, model = vision_served
    picture = png(colour=(240, 200, 10), mark="chat")
    data_url = "data:image/png;base64," + base64.b64encode(picture).decode()
    resp = _ask(client, headers, model, data_url)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["object"] == "chat.completion" and answer["model"] == model
    assert answer["usage"]["prompt_tokens"] > 16  # the image's 16 tokens and the question's
    expected = _reference(tiny_vision_model, vision_run["output"] / "adapter", picture, "What colour is the square?", 8)
    assert answer["choices"][0]["message"]["content"] == expected and expected.strip()
    # The answer depends on the image: another picture, another answer (and that one is the model's too).
    other = png(colour=(10, 20, 230), size=(32, 48), mark="x")
    second = _ask(client, headers, model, "data:image/png;base64," + base64.b64encode(other).decode())
    other_expected = _reference(tiny_vision_model, vision_run["output"] / "adapter", other,
                                "What colour is the square?", 8)
    assert second.json()["choices"][0]["message"]["content"] == other_expected != expected
    # The same image uploaded to the app and named by its URL gives the same answer; nothing remote is fetched.
    image = client.post("/api/v1/images", json={"data": data_url}, headers=headers).json()["images"][0]
    by_url = _ask(client, headers, model, image["url"])
    assert by_url.status_code == 200 and by_url.json()["choices"][0]["message"]["content"] == expected
    remote = _ask(client, headers, model, "https://example.com/cat.png")
    assert remote.status_code == 400 and "never fetched" in remote.json()["error"]["message"]
    bomb = _ask(client, headers, model, "data:image/png;base64," + base64.b64encode(png_bomb()).decode())
    assert bomb.status_code == 400 and "decompression bomb" in bomb.json()["error"]["message"]
    assert bomb.json()["error"]["param"] == "messages[0].content[0].image_url.url"
    _answer_job_sends_the_image(model, vision_run, tiny_vision_model)


def _answer_job_sends_the_image(model: str, vision_run, tiny_vision_model) -> None:
    """Generation jobs accept images too: an instruction's images travel with its question to a local backend."""
    from app.core.db import get_sessionmaker
    from app.images.service import store_bytes
    from app.jobs.runner import run_job
    from app.jobs.service import create_job
    from app.models import Backend, Candidate, Instruction, Job, JobStatus, Project, Role, User

    picture = png(colour=(20, 160, 60), mark="job")
    with get_sessionmaker()() as session:
        sha, _ = store_bytes(session, picture)
        project = session.query(Project).order_by(Project.id.desc()).first()
        session.add(Backend(name="tiny-vlm", kind="local", model=model))
        inst = Instruction(project_id=project.id, instruction="<image>\nWhat colour is the square?",
                           images=[{"id": sha, "name": "green.png"}], content_hash="vision-job")
        session.add(inst)
        session.flush()
        admin = session.query(User).filter(User.role == Role.reviewer).first()
        admin.role = Role.admin
        job = create_job(session, user=admin, project_slug=project.slug, kind_name="answer",
                         params={"backend": "tiny-vlm", "temperature": 0, "max_tokens": 8, "keep_truncated": True,
                                 "filter": {"ids": [inst.id]}})
        session.commit()
        job_id, inst_id = job.id, inst.id
    run_job(job_id)
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        assert job.status == JobStatus.succeeded, job.error
        texts = [c.text for c in session.query(Candidate).filter(Candidate.instruction_id == inst_id)]
    expected = _reference(tiny_vision_model, vision_run["output"] / "adapter", picture, "What colour is the square?", 8)
    assert texts == [expected]
