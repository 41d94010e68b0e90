"""Seq2SeqEngine: an encoder-decoder model (the T5 family) serving many requests from one background thread.

It keeps the causal engine's interface (thread-safe `submit` with a sink, `cancel`, `busy`, `close`, `describe`), so
the server, its streaming and its batching of prompts work unchanged. Requests that wait together are decoded
together, up to max_batch_size samples at a time (worker/serving/seq2seq_decode.py); requests arriving meanwhile
wait for the next group. Streaming is real: each sample's text goes out as its tokens are chosen.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from worker.serving.loading import LoadedModel
from worker.serving.params import RequestError, SamplingParams
from worker.serving.sampling import row_generator
from worker.serving.seq2seq_decode import decode
from worker.serving.sequence import EngineRequest, Sequence, Sink
from worker.serving.settings import Resolved

logger = logging.getLogger("tuneloop.serving")


@dataclass
class Seq2SeqStats:
    requests: int = 0
    samples: int = 0
    groups: int = 0  # decode calls (each one encoder pass over its prompts)
    prompt_tokens: int = 0
    steps: int = 0  # decoder steps
    max_rows: int = 0  # the most samples decoded together
    failures: int = 0


class Seq2SeqEngine:
    """Thread-safe `submit`; all model work happens on the engine's own thread."""

    # server.py renders and checks requests for encoder-decoders with worker/serving/seq2seq_prompt.py.
    encoder_decoder = True

    def __init__(self, loaded: LoadedModel, resolved: Resolved) -> None:
        self.loaded = loaded
        self.resolved = resolved
        self.settings = resolved.settings
        self.stats = Seq2SeqStats()
        self._inbox: queue.SimpleQueue[EngineRequest | None] = queue.SimpleQueue()
        self._waiting: list[Sequence] = []
        self._working = False
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="tuneloop-seq2seq", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the caller's side

    def submit(self, prompt_ids: list[int], params: SamplingParams, sink: Sink) -> EngineRequest:
        """Queue a request; `sink` gets deltas (when streaming) and then the result or an exception."""
        context = self.loaded.context_length
        if not prompt_ids:
            raise RequestError("The prompt is empty.", param="prompt")
        if len(prompt_ids) > context:
            raise RequestError(f"This model's maximum context length is {context} tokens (what its encoder "
                               f"reads); the prompt has {len(prompt_ids)}.", param="messages")
        if params.scores_prompt:
            raise RequestError("echo with logprobs scores the prompt, and an encoder-decoder model does not "
                               "predict its prompt: ask without logprobs, or without echo.", param="echo")
        vocab = self.loaded.model.get_input_embeddings().num_embeddings
        if max(prompt_ids) >= vocab or min(prompt_ids) < 0:
            raise RequestError(f"The prompt has token ids outside this model's vocabulary (0 to {vocab - 1}).",
                               param="prompt")
        # The answer is the decoder's alone: nothing of the prompt goes before it when its text is decoded, and its
        # length is bounded by max_tokens (checked against the context when the request was prepared).
        request = EngineRequest(prompt_ids, params, sink, max_length=len(prompt_ids) + context, text_context=[])
        self._inbox.put(request)
        return request

    def cancel(self, request: EngineRequest) -> None:
        """Stop working on a request whose client went away; nothing more is sent to its sink."""
        request.cancelled = True

    def close(self) -> None:
        self._closed = True
        self._inbox.put(None)
        self._thread.join(timeout=30)

    def busy(self) -> bool:
        return self._working or bool(self._waiting) or not self._inbox.empty()

    def describe(self) -> dict[str, Any]:
        return {**self.resolved.describe(), "family": "seq2seq", "context_length": self.loaded.context_length,
                **asdict(self.stats)}

    # ------------------------------------------------------------------ the engine's thread

    def _loop(self) -> None:
        while not self._closed:
            idle = not self._waiting
            if not self._receive(block=idle):
                return
            if idle and self.settings.batch_wait_ms > 0:
                # Requests sent together arrive a few milliseconds apart: wait briefly to decode them together.
                time.sleep(self.settings.batch_wait_ms / 1000)
                if not self._receive(block=False):
                    return
            self._waiting = [s for s in self._waiting if not s.request.cancelled]
            group = self._waiting[:self.resolved.max_batch_size]
            self._waiting = self._waiting[len(group):]
            if group:
                self._run(group)

    def _receive(self, block: bool) -> bool:
        """Move new requests into the waiting queue; False when the engine is closing."""
        try:
            request = self._inbox.get(block=block)
        except queue.Empty:
            return True
        while request is not None:
            self._admit(request)
            try:
                request = self._inbox.get_nowait()
            except queue.Empty:
                return True
        return False

    def _admit(self, request: EngineRequest) -> None:
        params, loaded = request.params, self.loaded
        self.stats.requests += 1
        self.stats.samples += params.n
        request.sequences = [Sequence(request, i, row_generator(params.seed, i, loaded.device), loaded.tokenizer,
                                      loaded.eos_ids) for i in range(params.n)]
        if params.max_tokens == 0:  # nothing to write (a completion asking for none)
            for seq in request.sequences:
                seq.finish_reason = "length"
                request.sequence_done(loaded.tokenizer)
            return
        self._waiting.extend(request.sequences)

    def _run(self, group: list[Sequence]) -> None:
        self._working = True
        try:
            self.stats.groups += 1
            self.stats.prompt_tokens += sum(len(r.prompt_ids) for r in dict.fromkeys(s.request for s in group))
            self.stats.max_rows = max(self.stats.max_rows, len(group))
            self.stats.steps += decode(self.loaded, group)
        except Exception as exc:  # a failed pass fails the requests in it, not the engine
            logger.exception("serving: an encoder-decoder group failed")
            self.stats.failures += 1
            for request in dict.fromkeys(s.request for s in group):
                delivered = all(s.finish_reason is not None for s in request.sequences)
                if not (request.cancelled or delivered):
                    request.cancelled = True  # its samples still waiting are dropped, nothing more is sent
                    request.fail(exc)
        finally:
            self._working = False
