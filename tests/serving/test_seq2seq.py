"""Encoder-decoder models (Flan's T5s) through /v1 and generation jobs: a tiny T5 built by `tuneloop model
init-tiny --arch t5`, served by a real model server process behind the web app.

On the committed SQLite database only: the /v1 path and the job engine are the same on PostgreSQL, which
tests/serving/test_api.py and tests/jobs cover; what is new here is the model family, not the database."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.conftest import _truncate_all, reset_app_caches
from tests.serving.conftest import serving
from tests.support.model_server import ModelServer

pytestmark = pytest.mark.slow

QUESTION = [{"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": "Write a poem about the sea"}]
# What a T5 tuned by Tuneloop reads for that conversation (worker/training/seq2seq.py `source_text`).
SOURCE = "You answer briefly.\n\nWrite a poem about the sea"


@pytest.fixture(scope="module")
def t5_server(sqlite_url):
    server = ModelServer(sqlite_url)
    yield server
    server.stop()


@pytest.fixture
def t5(sqlite_url, t5_server, lively_t5, monkeypatch):
    """The web app on the committed SQLite database, a token, and a local backend serving the lively T5."""
    monkeypatch.setenv("TUNELOOP_DATABASE_URL", sqlite_url)
    reset_app_caches()
    try:
        with serving(t5_server, lively_t5, monkeypatch) as served:
            yield served
    finally:
        reset_app_caches()
        _truncate_all(sqlite_url)


@pytest.fixture(scope="module")
def t5_reference(lively_t5):
    """Greedy `generate` in-process, on the source text as training tokenizes it: (answer text, ended by eos)."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(lively_t5)
    model = AutoModelForSeq2SeqLM.from_pretrained(lively_t5).eval()

    def answer(text: str, max_tokens: int, adapter=None) -> tuple[str, bool]:
        chosen = model
        if adapter is not None:
            from peft import PeftModel

            chosen = PeftModel.from_pretrained(AutoModelForSeq2SeqLM.from_pretrained(lively_t5), adapter)
            chosen = chosen.merge_and_unload().eval()
        with torch.no_grad():
            out = chosen.generate(**tokenizer(text, return_tensors="pt"), max_new_tokens=max_tokens, do_sample=False)
        ids = [int(t) for t in out[0][1:]]  # after the decoder's start token
        ended = tokenizer.eos_token_id in ids
        return tokenizer.decode(ids[:ids.index(tokenizer.eos_token_id)] if ended else ids,
                                skip_special_tokens=True), ended

    answer.tokenizer = tokenizer
    return answer


def test_chat_messages_become_the_source_text_a_t5_is_trained_on(lively_t5):
    from transformers import AutoTokenizer

    from worker.serving.seq2seq_prompt import source
    from worker.training.seq2seq import source_text

    tokenizer = AutoTokenizer.from_pretrained(lively_t5)
    assert source(QUESTION) == SOURCE == source_text({"prompt": QUESTION})
    # A chat template changes nothing: the trainer ignores it for encoder-decoders, so serving must too.
    tokenizer.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}[assistant]"
    from app.serving.schemas import ChatCompletionRequest
    from worker.serving.seq2seq_prompt import prepare_chat

    prepared = prepare_chat(ChatCompletionRequest(model="t5", messages=QUESTION), tokenizer, 512, 16)
    assert prepared.prompts == [list(tokenizer(text=SOURCE)["input_ids"])]


def test_prompts_of_different_lengths_decoded_together_answer_as_each_alone(lively_t5, t5_reference):
    """The engine in-process: four requests at once are one group (padding and rows leaving as they end change no
    answer), and each greedy answer is `generate`'s for that prompt alone."""
    from tests.serving.test_engine import run_all
    from worker.serving.loading import ModelSource, load
    from worker.serving.params import SamplingParams
    from worker.serving.seq2seq_engine import Seq2SeqEngine
    from worker.serving.settings import EngineSettings, resolve

    resolved = resolve(EngineSettings(batch_wait_ms=50))
    engine = Seq2SeqEngine(load(ModelSource(str(lively_t5)), resolved), resolved)
    try:
        texts = ["Hi", SOURCE, "Give me a list of four colours and a short reason for each one", "Colours:"]
        tokenizer = engine.loaded.tokenizer
        results = run_all(engine, [(tokenizer(t)["input_ids"], SamplingParams(max_tokens=3 + i, temperature=0))
                                   for i, t in enumerate(texts)])
        assert [r.samples[0].text for r in results] == [t5_reference(t, 3 + i)[0] for i, t in enumerate(texts)]
        assert engine.describe()["groups"] == 1 and engine.describe()["max_rows"] == 4
    finally:
        engine.close()


def test_a_t5_answers_chat_and_completions_through_v1(t5, t5_reference):
    resp = t5.post("/v1/chat/completions", {"model": t5.backend, "messages": QUESTION, "max_tokens": 6,
                                            "temperature": 0})
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["object"] == "chat.completion" and answer["model"] == t5.backend
    expected, ended = t5_reference(SOURCE, 6)
    assert not ended and expected.strip()  # the lively T5 writes on past 6 tokens here
    choice = answer["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": expected}
    assert choice["finish_reason"] == "length"
    assert answer["usage"] == {"prompt_tokens": len(t5_reference.tokenizer(SOURCE)["input_ids"]),
                               "completion_tokens": 6,
                               "total_tokens": len(t5_reference.tokenizer(SOURCE)["input_ids"]) + 6}

    body = {"model": t5.backend, "prompt": ["The sea is", "Colours:"], "max_tokens": 5, "n": 2,
            "temperature": 0.9, "seed": 3, "ignore_eos": True}
    first = t5.post("/v1/completions", body)
    assert first.status_code == 200, first.text
    choices = first.json()["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2, 3]
    assert all(c["finish_reason"] == "length" and c["text"] for c in choices)
    assert first.json()["usage"]["completion_tokens"] == 20
    texts = [c["text"] for c in choices]
    assert texts[0] != texts[1] and texts[2] != texts[3]  # n samples of one prompt differ
    again = t5.post("/v1/completions", body).json()
    assert [c["text"] for c in again["choices"]] == texts  # the same seed, the same samples
    other = t5.post("/v1/completions", {**body, "seed": 4}).json()
    assert [c["text"] for c in other["choices"]] != texts


def test_a_t5_streams_the_same_text_in_server_sent_events(t5):
    body = {"model": t5.backend, "messages": QUESTION, "max_tokens": 8, "temperature": 0, "n": 2}
    whole = t5.post("/v1/chat/completions", body).json()
    with t5.client.stream("POST", "/v1/chat/completions", headers=t5.headers,
                          json={**body, "stream": True, "stream_options": {"include_usage": True}}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    texts, finishes = {0: "", 1: ""}, {}
    for c in chunks:
        for choice in c["choices"]:
            texts[choice["index"]] += choice["delta"].get("content", "")
            if choice["finish_reason"]:
                finishes[choice["index"]] = choice["finish_reason"]
    assert len(chunks) > 4  # token by token, not one chunk at the end
    assert texts[0] == texts[1] == whole["choices"][0]["message"]["content"]
    assert finishes == {0: "length", 1: "length"}
    assert chunks[-1]["usage"] == whole["usage"]


def test_a_prompt_longer_than_a_t5s_encoder_reads_is_refused(t5):
    long_text = "the sea and the sky " * 1200
    resp = t5.post("/v1/chat/completions", {"model": t5.backend, "max_tokens": 4,
                                            "messages": [{"role": "user", "content": long_text}]})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == "messages" and "maximum context length is 4096 tokens" in error["message"]
    assert "encoder" in error["message"]
    resp = t5.post("/v1/completions", {"model": t5.backend, "prompt": "Hello", "max_tokens": 5000})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "max_tokens"
    assert "at most 4096 tokens" in resp.json()["error"]["message"]
    # Scoring the prompt (echo with logprobs) has no meaning for an encoder-decoder: said, not faked.
    resp = t5.post("/v1/completions", {"model": t5.backend, "prompt": "Hello", "max_tokens": 1, "echo": True,
                                       "logprobs": 1})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "echo"


def test_a_tuned_t5s_adapter_is_served_merged_as_its_run(t5, t5_adapter, lively_t5, t5_reference):
    from app.core.db import get_sessionmaker
    from app.models import RunState, TuningRun
    from tests.tuning.conftest import make_project, make_snapshot

    with get_sessionmaker()() as session:
        project = make_project(session)
        export = make_snapshot(session, project)
        run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", state=RunState.succeeded,
                        base_model=str(lively_t5),
                        artifacts=[{"name": "adapter", "path": str(t5_adapter), "size_bytes": 1}])
        session.add(run)
        session.commit()
        model = f"run-{run.id}"
    body = {"messages": QUESTION, "max_tokens": 8, "temperature": 0}
    tuned = t5.post("/v1/chat/completions", {"model": model, **body})
    assert tuned.status_code == 200, tuned.text
    base = t5.post("/v1/chat/completions", {"model": t5.backend, **body}).json()
    text = tuned.json()["choices"][0]["message"]["content"]
    assert text == t5_reference(SOURCE, 8, adapter=t5_adapter)[0]
    assert text != base["choices"][0]["message"]["content"]


def test_an_answer_job_on_a_t5_stores_its_answers_as_candidates(t5, lively_t5, t5_reference):
    from app.core.db import get_sessionmaker
    from app.jobs.runner import run_job
    from app.models import Candidate, Instruction, Project
    from app.users.service import create_token, create_user

    with get_sessionmaker()() as session:
        admin = create_user(session, email=f"admin-{secrets.token_hex(3)}@example.com",
                            password="correct horse battery", role="admin")
        headers = {"Authorization": f"Bearer {create_token(session, user=admin, name='t5').secret}"}
        project = Project(name="T5 answers", slug=f"t5-{secrets.token_hex(3)}")
        session.add(project)
        session.flush()
        asked = {"Name a colour": "", "Translate to French": "the sea"}
        session.add_all(Instruction(project_id=project.id, instruction=text, input=extra, content_hash=text)
                        for text, extra in asked.items())
        session.commit()
        slug, project_id = project.slug, project.id
    resp = t5.post("/api/v1/generations", {"project": slug, "model": str(lively_t5), "temperature": 0,
                                           "max_new_tokens": 6}, headers=headers)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    run_job(job_id)  # what the worker's task does
    done = t5.client.get(f"/api/v1/generations/{job_id}", headers=headers).json()
    assert done["status"] == "succeeded" and done["candidates_added"] == 2, done
    with get_sessionmaker()() as session:
        stored = {i.instruction: [c.text for c in session.query(Candidate).filter(Candidate.instruction_id == i.id)]
                  for i in session.query(Instruction).filter(Instruction.project_id == project_id)}
    # Each instruction's answer is the T5's own for its source text: the instruction, then its input.
    assert stored == {"Name a colour": [t5_reference("Name a colour", 6)[0]],
                      "Translate to French": [t5_reference("Translate to French\n\nthe sea", 6)[0]]}
    assert all(texts[0].strip() for texts in stored.values())
