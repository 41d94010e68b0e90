"""LocalEngine: one loaded model serving many concurrent requests from one background thread.

Requests queue up; the engine scores prompts that ask for echo, then decodes samples in batches. On the default
(dynamic cache) path the batch is continuous: waiting samples are prefilled in groups of similar prompt length
(padding capped) and join the running batch between steps; finished rows leave at once and the padding no row
needs is cut away, so the batch stays full and the cache holds little but real tokens. With the static cache (GPU
default) batches run whole through transformers' own `generate` with a static cache and compiled decoding.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from worker.serving.batch import DecodeBatch
from worker.serving.loading import LoadedModel
from worker.serving.params import RequestError, SamplingParams
from worker.serving.sampling import RowSampling, row_generator
from worker.serving.scheduler import remaining, take
from worker.serving.scoring import score, take_scoring
from worker.serving.sequence import EngineRequest, Sequence, Sink
from worker.serving.settings import Resolved

logger = logging.getLogger("tuneloop.serving")


@dataclass
class EngineStats:
    requests: int = 0
    samples: int = 0
    prefills: int = 0  # prefill forward passes (each one group of prompts)
    prompt_tokens: int = 0
    steps: int = 0  # decoding steps
    row_steps: int = 0  # rows decoded, summed over steps (row_steps / steps: the mean batch)
    generated_tokens: int = 0
    max_rows: int = 0  # the largest batch decoded together
    joins: int = 0  # groups that joined a batch already decoding
    scored_requests: int = 0
    scoring_passes: int = 0
    failures: int = 0


class LocalEngine:
    """Thread-safe `submit`; all model work happens on the engine's own thread."""

    def __init__(self, loaded: LoadedModel, resolved: Resolved) -> None:
        self.loaded = loaded
        self.resolved = resolved
        self.settings = resolved.settings
        self.stats = EngineStats()
        self._inbox: queue.SimpleQueue[EngineRequest | None] = queue.SimpleQueue()
        self._waiting: list[Sequence] = []
        self._scoring: list[EngineRequest] = []
        self._batch = DecodeBatch(loaded)
        self._static = None
        if resolved.static_cache:
            from worker.serving.static import StaticRunner

            self._static = StaticRunner(loaded, compiled=resolved.compile)
        self._max_cells = self.settings.max_batch_tokens or _auto_cells(loaded, self.settings.gpu_memory_fraction)
        self._closed = False
        self._changed = True  # arrivals or departures since the waiting queue last found no group to admit
        self._thread = threading.Thread(target=self._loop, name="tuneloop-engine", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the caller's side

    def submit(self, prompt_ids: list[int], params: SamplingParams, sink: Sink) -> EngineRequest:
        """Queue a request; `sink` gets deltas (when streaming) and then the result or an exception."""
        context = self.loaded.context_length
        if not prompt_ids:
            raise RequestError("The prompt is empty.", param="prompt")
        if len(prompt_ids) >= context:
            raise RequestError(f"This model's maximum context length is {context} tokens; the prompt has "
                               f"{len(prompt_ids)}.", param="messages")
        vocab = self.loaded.model.get_input_embeddings().num_embeddings
        if max(prompt_ids) >= vocab or min(prompt_ids) < 0:
            raise RequestError(f"The prompt has token ids outside this model's vocabulary (0 to {vocab - 1}).",
                               param="prompt")
        request = EngineRequest(prompt_ids, params, sink, max_length=context)
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
        return bool(self._batch.rows or self._waiting or self._scoring or not self._inbox.empty())

    def describe(self) -> dict[str, Any]:
        return {**self.resolved.describe(), "max_batch_tokens": self._max_cells, **asdict(self.stats)}

    # ------------------------------------------------------------------ the engine's thread

    def _loop(self) -> None:
        while not self._closed:
            idle = not (self._batch.rows or self._waiting or self._scoring)
            if not self._receive(block=idle):
                return
            if idle and self.settings.batch_wait_ms > 0:
                # Requests sent together arrive a few milliseconds apart: wait briefly to prefill them together.
                time.sleep(self.settings.batch_wait_ms / 1000)
                self._receive(block=False)
            try:
                self._work()
            except Exception as exc:  # a failed forward pass fails the requests in it, not the engine
                logger.exception("serving: a batch failed")
                self.stats.failures += 1
                self._fail_all(exc)

    def _receive(self, block: bool) -> bool:
        """Move new requests into the queues; False when the engine is closing."""
        try:
            request = self._inbox.get(block=block)
        except queue.Empty:
            return True
        while request is not None:
            self._changed = True
            self._admit(request)
            try:
                request = self._inbox.get_nowait()
            except queue.Empty:
                return True
        return False

    def _admit(self, request: EngineRequest) -> None:
        self.stats.requests += 1
        params = request.params
        if params.scores_prompt:
            self._scoring.append(request)
            return
        self._queue_samples(request)

    def _queue_samples(self, request: EngineRequest) -> None:
        params, loaded = request.params, self.loaded
        request.sequences = [Sequence(request, i, row_generator(params.seed, i, loaded.device), loaded.tokenizer,
                                      loaded.eos_ids) for i in range(params.n)]
        self.stats.samples += params.n
        if params.max_tokens == 0:
            for seq in request.sequences:
                seq.finish_reason = "length"
                request.sequence_done(loaded.tokenizer)
            return
        self._waiting.extend(request.sequences)

    def _work(self) -> None:
        self._drop_cancelled()
        if self._scoring:
            self._score()
        elif self._static is not None:
            if self._waiting:
                self._run_static()
        else:
            self._decode()

    def _score(self) -> None:
        group = take_scoring(self._scoring, self.settings.scoring_tokens)
        self._scoring = [r for r in self._scoring if r not in group]
        last_logits = score(self.loaded, group)
        self.stats.scoring_passes += 1
        self.stats.scored_requests += len(group)
        self.stats.prompt_tokens += sum(len(r.prompt_ids) for r in group)
        for i, request in enumerate(group):
            self._queue_samples(request)
            if request.params.max_tokens == 1 and request.sequences:
                # The pass already saw the whole prompt: its last logits give the one token asked for.
                self._waiting = [s for s in self._waiting if s.request is not request]
                self._one_token(request, last_logits[i])

    def _one_token(self, request: EngineRequest, logits: torch.Tensor) -> None:
        rows = request.sequences
        sampling = RowSampling([s.params for s in rows], [s.generator for s in rows], self.loaded.device)
        tokens, logprobs = sampling.pick(logits[None, :].expand(len(rows), -1).clone())
        for seq, token, logprob in zip(rows, tokens.tolist(), logprobs, strict=True):
            seq.append(token, logprob, self.loaded.tokenizer)
            self.stats.generated_tokens += 1
            request.sequence_done(self.loaded.tokenizer)

    def _decode(self) -> None:
        batch = self._batch
        room = self.resolved.max_batch_size - len(batch)
        if self._waiting and room > 0 and self._changed and (not batch.rows or batch.can_merge):
            reach = max((remaining(r) for r in batch.rows), default=0)
            real = int(batch.positions.sum()) if batch.rows else 0
            group = take(self._waiting, slots=room, rows=len(batch), width=batch.width, real=real, reach=reach,
                         max_cells=self._max_cells, max_padding=self.settings.max_padding)
            if group:
                self._prefill(group)
            else:
                self._changed = False  # nothing fits until a request arrives or a row leaves
        if batch.rows:
            self.stats.steps += 1
            self.stats.row_steps += len(batch)
            self.stats.max_rows = max(self.stats.max_rows, len(batch))
            self._finish(batch, batch.step())

    def _prefill(self, group: list[Sequence]) -> None:
        chosen = {id(s) for s in group}
        self._waiting = [s for s in self._waiting if id(s) not in chosen]
        part = DecodeBatch(self.loaded)
        finished = part.prefill(group)
        self.stats.prefills += 1
        self.stats.prompt_tokens += sum(len(r.prompt_ids) for r in dict.fromkeys(s.request for s in group))
        if self._batch.rows:
            self.stats.joins += 1
        self._finish(part, finished)
        self._batch.merge(part)

    def _finish(self, batch: DecodeBatch, finished: list[Sequence]) -> None:
        self.stats.generated_tokens += len(batch.rows)
        batch.evict(finished)
        self._changed = self._changed or bool(finished)
        for seq in finished:
            if not seq.request.cancelled:
                seq.request.sequence_done(self.loaded.tokenizer)

    def _run_static(self) -> None:
        group = take(self._waiting, slots=self.resolved.max_batch_size, max_cells=self._max_cells,
                     max_padding=self.settings.max_padding)
        chosen = {id(s) for s in group}
        self._waiting = [s for s in self._waiting if id(s) not in chosen]
        steps = self._static.run(group)
        self.stats.prefills += 1
        self.stats.prompt_tokens += sum(len(r.prompt_ids) for r in dict.fromkeys(s.request for s in group))
        self.stats.steps += steps
        self.stats.row_steps += steps * len(group)
        self.stats.max_rows = max(self.stats.max_rows, len(group))
        self.stats.generated_tokens += sum(s.generated for s in group)
        for seq in group:
            if not seq.request.cancelled:
                seq.request.sequence_done(self.loaded.tokenizer)

    def _drop_cancelled(self) -> None:
        self._waiting = [s for s in self._waiting if not s.request.cancelled]
        self._scoring = [r for r in self._scoring if not r.cancelled]
        gone = [row for row in self._batch.rows if row.request.cancelled]
        self._batch.evict(gone)
        self._changed = self._changed or bool(gone)

    def _fail_all(self, error: Exception) -> None:
        requests = {s.request.id: s.request for s in [*self._batch.rows, *self._waiting]}
        requests.update({r.id: r for r in self._scoring})
        self._batch = DecodeBatch(self.loaded)
        self._waiting, self._scoring = [], []
        for request in requests.values():
            request.fail(error)


def kv_cells(free_bytes: int, config: Any, itemsize: int, fraction: float) -> int:
    """KV cache cells (one token of one row, all layers) that `fraction` of `free_bytes` holds for this config."""
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    per_cell = 2 * config.num_hidden_layers * heads * head_dim * itemsize
    return max(4096, int(free_bytes * fraction / per_cell))


def _auto_cells(loaded: LoadedModel, fraction: float) -> int:
    """KV cache cells that fit in the free GPU memory; a fixed size on a CPU. With max_batch_size 0 this is what
    bounds the batch on a GPU: rows are added while rows x (width + new tokens) stays within it."""
    if loaded.device.type != "cuda":
        return 1 << 20
    free, _total = torch.cuda.mem_get_info(loaded.device)
    return kv_cells(free, loaded.model.config.get_text_config(), loaded.model.dtype.itemsize, fraction)
