"""A request inside the engine, and its samples (sequences) as they grow token by token."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from worker.serving.params import Delta, RequestResult, SampleResult, SamplingParams, TokenLogprob
from worker.serving.text import CONTEXT_TOKENS, IncrementalText, answer_text, find_stop

# What the engine hands back: deltas while streaming, then the result (or the exception that ended the request).
Sink = Callable[[Delta | RequestResult | BaseException], None]
_ids = itertools.count(1)


class EngineRequest:
    def __init__(self, prompt_ids: list[int], params: SamplingParams, sink: Sink, max_length: int,
                 text_context: list[int] | None = None) -> None:
        self.id = next(_ids)
        self.prompt_ids = prompt_ids
        # Tokens decoded before the answer so its first token keeps its leading space: the prompt's last few for a
        # causal model (the answer continues it), none for an encoder-decoder (its decoder starts afresh).
        self.text_context = prompt_ids[-CONTEXT_TOKENS:] if text_context is None else text_context
        self.params = params
        self.sink = sink
        self.max_length = max_length  # prompt + answer may not exceed the model's context
        self.created = time.monotonic()
        self.sequences: list[Sequence] = []
        self.prompt_logprobs: list[TokenLogprob | None] | None = None
        self.cancelled = False
        self._finished = 0

    def sequence_done(self, tokenizer: Any) -> None:
        self._finished += 1
        if self._finished == len(self.sequences):
            self.sink(RequestResult(prompt_ids=self.prompt_ids, prompt_logprobs=self.prompt_logprobs,
                                    samples=[s.result(tokenizer) for s in self.sequences]))

    def fail(self, error: BaseException) -> None:
        self.sink(error)


class Sequence:
    """One sample of a request: its tokens, logprobs and text, and why it ended."""

    def __init__(self, request: EngineRequest, index: int, generator: Any, tokenizer: Any,
                 eos_ids: frozenset[int]) -> None:
        self.request = request
        self.index = index
        self.generator = generator
        self.eos_ids = frozenset() if request.params.ignore_eos else eos_ids
        self.tokens: list[int] = []
        self.generated = 0  # tokens made, the end-of-sequence token included (what usage counts)
        self.logprobs: list[TokenLogprob] = []
        self.finish_reason: str | None = None
        params = request.params
        watch = bool(params.stop) or params.stream
        self.text = IncrementalText(tokenizer, request.text_context, params.stop) if watch else None
        self._sent_chars = 0
        self._sent_logprobs = 0
        self._final_text: str | None = None

    @property
    def params(self) -> SamplingParams:
        return self.request.params

    @property
    def prompt_len(self) -> int:
        return len(self.request.prompt_ids)

    @property
    def length(self) -> int:
        """Prompt and answer tokens so far: this row's real cache length."""
        return self.prompt_len + self.generated

    def append(self, token: int, logprob: TokenLogprob | None, tokenizer: Any) -> bool:
        """Take the next token; True when the sequence has just finished."""
        self.generated += 1
        if token in self.eos_ids:
            self.finish_reason = "stop"
        else:
            self.tokens.append(token)
            if logprob is not None:
                self.logprobs.append(logprob)
            if self.text is not None:
                self.text.push(token)
                if self.text.stop_at >= 0:
                    self.finish_reason = "stop"
        if self.finish_reason is None and (len(self.tokens) >= self.params.max_tokens
                                           or self.length >= self.request.max_length):
            self.finish_reason = "length"
        if self.params.stream:
            self._emit(tokenizer)
        return self.finish_reason is not None

    def final_text(self, tokenizer: Any) -> str:
        if self._final_text is None:
            text = answer_text(tokenizer, self.request.text_context, self.tokens)
            cut = find_stop(text, self.params.stop) if self.params.stop else -1
            if cut >= 0:
                text, self.finish_reason = text[:cut], "stop"
            self._final_text = text
        return self._final_text

    def _emit(self, tokenizer: Any) -> None:
        if self.finish_reason is not None:
            text = self.final_text(tokenizer)
            upto = len(text)
        else:
            text = self.text.text if self.text is not None else ""
            upto = self.text.streamable() if self.text is not None else 0
        delta = text[self._sent_chars:upto]
        if not delta and self.finish_reason is None:
            return
        logprobs = self.logprobs[self._sent_logprobs:]
        self._sent_chars, self._sent_logprobs = max(upto, self._sent_chars), len(self.logprobs)
        self.request.sink(Delta(index=self.index, text=delta, logprobs=logprobs, finish_reason=self.finish_reason))

    def result(self, tokenizer: Any) -> SampleResult:
        text = self.final_text(tokenizer)
        logprobs = self.logprobs if self.params.logprobs is not None else None
        return SampleResult(index=self.index, text=text, token_ids=list(self.tokens),
                            finish_reason=self.finish_reason or "length", logprobs=logprobs,
                            generated=self.generated)
