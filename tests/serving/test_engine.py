"""The engine in-process on the lively tiny model: greedy equals model.generate, batching, scoring, sampling."""

from __future__ import annotations

import threading

import pytest
import torch

from tests.conftest import wait_for
from worker.serving.params import RequestResult, SamplingParams

PROMPTS = ["Write a poem about the sea", "Hello", "Explain why the sky is blue, in three sentences please.",
           "Give me a list of four colours and a short reason for each one"]


def chat_ids(loaded, text: str) -> list[int]:
    return list(loaded.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=True,
                                                     add_generation_prompt=True, return_dict=True)["input_ids"])


def run_all(engine, requests: list[tuple[list[int], SamplingParams]], timeout: float = 120) -> list[RequestResult]:
    """Submit every request at once (as concurrent clients would) and wait for all results."""
    results: dict[int, RequestResult] = {}
    done = threading.Semaphore(0)

    def sink_for(number: int):
        def sink(event):
            if isinstance(event, RequestResult | BaseException):
                results[number] = event
                done.release()
        return sink

    for number, (ids, params) in enumerate(requests):
        engine.submit(ids, params, sink_for(number))
    for _ in requests:
        assert done.acquire(timeout=timeout), "the engine did not answer in time"
    failures = [r for r in results.values() if isinstance(r, BaseException)]
    assert not failures, failures
    return [results[i] for i in range(len(requests))]


@pytest.fixture(params=["dynamic", "static"])
def engine(request, loaded):
    """The default continuous engine, and the static-cache path (whole batches through generate) on the CPU."""
    from worker.serving.engine import LocalEngine
    from worker.serving.settings import EngineSettings, resolve

    settings = EngineSettings(static_cache="on" if request.param == "static" else "off", batch_wait_ms=20)
    engine = LocalEngine(loaded, resolve(settings))
    yield engine
    engine.close()


def reference(loaded, ids: list[int], new_tokens: int) -> list[int]:
    """model.generate alone on one prompt, greedy, up to its end-of-sequence token."""
    with torch.no_grad():
        out = loaded.model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                    max_new_tokens=new_tokens, do_sample=False,
                                    pad_token_id=loaded.tokenizer.pad_token_id)
    answer = out[0, len(ids):].tolist()
    ends = [i for i, token in enumerate(answer) if token in loaded.eos_ids]
    return answer[:ends[0]] if ends else answer


def test_greedy_batched_equals_generate_alone(loaded, engine):
    ids = [chat_ids(loaded, p) for p in PROMPTS]
    results = run_all(engine, [(i, SamplingParams(max_tokens=24, temperature=0.0)) for i in ids])
    for prompt_ids, result in zip(ids, results, strict=True):
        expected = reference(loaded, prompt_ids, 24)
        sample = result.samples[0]
        assert sample.token_ids == expected
        assert sample.finish_reason == ("length" if len(expected) == 24 else "stop")
        assert sample.text == loaded.tokenizer.decode(expected, skip_special_tokens=True)
    stats = engine.describe()
    assert stats["max_rows"] >= 2, stats  # the four prompts were decoded together, not one after another


def test_rows_join_a_running_batch_and_answers_do_not_change(loaded):
    """A request arriving while a batch decodes joins it between steps (left-padded into the same cache). The
    padding cap is raised so that a short prompt may join a longer one."""
    from worker.serving.engine import LocalEngine
    from worker.serving.settings import EngineSettings, resolve

    engine = LocalEngine(loaded, resolve(EngineSettings(static_cache="off", batch_wait_ms=0, max_padding=0.9)))
    try:
        long_ids, late_ids = chat_ids(loaded, PROMPTS[2]), chat_ids(loaded, PROMPTS[1])
        first_done = threading.Event()
        results = {}

        def sink(event):
            if isinstance(event, RequestResult | BaseException):
                results["long"] = event
                first_done.set()

        engine.submit(long_ids, SamplingParams(max_tokens=200, temperature=0.0, ignore_eos=True), sink)
        wait_for(lambda: engine.stats.steps >= 3, timeout=60, interval=0.005, message="the first batch to decode")
        late = run_all(engine, [(late_ids, SamplingParams(max_tokens=20, temperature=0.0))])[0]
        assert first_done.wait(120)
        assert engine.stats.joins >= 1 and engine.stats.max_rows == 2
        assert late.samples[0].token_ids == reference(loaded, late_ids, 20)
        assert len(results["long"].samples[0].token_ids) == 200
    finally:
        engine.close()


def test_echo_scores_the_prompt_like_a_direct_forward_pass(loaded, engine):
    ids = chat_ids(loaded, PROMPTS[3])
    scored, only_prompt = run_all(engine, [(ids, SamplingParams(max_tokens=1, temperature=0.0, echo=True, logprobs=3)),
                                           (ids, SamplingParams(max_tokens=0, echo=True, logprobs=0))])
    with torch.no_grad():
        logprobs = torch.log_softmax(loaded.model(torch.tensor([ids])).logits[0].float(), dim=-1)
    direct = [logprobs[t - 1, ids[t]].item() for t in range(1, len(ids))]
    assert scored.prompt_logprobs[0] is None and len(scored.prompt_logprobs) == len(ids)
    assert [e.logprob for e in scored.prompt_logprobs[1:]] == pytest.approx(direct, abs=1e-4)
    assert sum(e.logprob for e in only_prompt.prompt_logprobs[1:]) == pytest.approx(sum(direct), abs=1e-3)
    top = scored.prompt_logprobs[5].top
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1] and top[0][0] == int(logprobs[4].argmax())
    # max_tokens 1 takes the answer's first token from the same pass: the greedy one after the whole prompt.
    assert scored.samples[0].token_ids == reference(loaded, ids, 1)[:1] or scored.samples[0].finish_reason == "stop"
    assert only_prompt.samples[0].token_ids == [] and only_prompt.samples[0].finish_reason == "length"


def test_seeded_samples_repeat_and_differ_from_each_other(loaded, engine):
    ids = chat_ids(loaded, PROMPTS[0])
    params = SamplingParams(max_tokens=12, temperature=1.0, top_p=0.9, n=3, seed=7, logprobs=2, ignore_eos=True)
    first, again = run_all(engine, [(ids, params), (ids, params)])
    samples = [s.token_ids for s in first.samples]
    assert samples == [s.token_ids for s in again.samples]
    assert len({tuple(s) for s in samples}) == 3
    entry = first.samples[0].logprobs[0]
    assert entry.token_id == first.samples[0].token_ids[0] and len(entry.top) == 2 and entry.logprob <= 0


def test_stop_strings_cut_the_answer(loaded, engine):
    ids = chat_ids(loaded, PROMPTS[2])
    free = run_all(engine, [(ids, SamplingParams(max_tokens=30, temperature=0.0, ignore_eos=True))])[0].samples[0]
    stop = free.text[6:9]
    assert stop.strip(), f"pick another slice of {free.text!r}"
    cut = run_all(engine, [(ids, SamplingParams(max_tokens=30, temperature=0.0, stop=(stop,)))])[0].samples[0]
    assert cut.finish_reason == "stop" and cut.text == free.text[:free.text.find(stop)]


def test_prompts_join_only_batches_they_fit(loaded):
    """Grouping: similar lengths go together, and a prompt that would pad a running batch beyond the cap waits."""
    from worker.serving.scheduler import take
    from worker.serving.sequence import EngineRequest, Sequence

    def waiting(*lengths: int) -> list[Sequence]:
        out = []
        for length in lengths:
            request = EngineRequest([5] * length, SamplingParams(max_tokens=8), lambda _: None, max_length=4096)
            out.append(Sequence(request, 0, None, loaded.tokenizer, loaded.eos_ids))
        return out

    queue = waiting(100, 10, 98, 95, 300)
    fresh = take(queue, slots=8, max_cells=10**6, max_padding=0.2)
    assert [s.prompt_len for s in fresh] == [100, 98, 95]  # the oldest leads; the short and the long wait
    assert [s.prompt_len for s in take(queue, slots=2, max_cells=10**6, max_padding=0.2)] == [100, 98]
    # A running batch of 4 rows, 110 wide, 400 real tokens: rows close to its width join, a 10-token prompt not.
    joining = take(waiting(10, 105, 108), slots=8, rows=4, width=110, real=400, max_cells=10**6, max_padding=0.2)
    assert [s.prompt_len for s in joining] == [108, 105]
    assert take(waiting(10), slots=8, rows=4, width=110, real=400, max_cells=10**6, max_padding=0.2) == []
    # Memory: the batch at its widest (rows x (width + tokens still to come)) stays within max_cells.
    assert len(take(waiting(100, 100, 100), slots=8, max_cells=2 * 108, max_padding=0.2)) == 2
