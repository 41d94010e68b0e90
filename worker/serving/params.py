"""What one request asks of the engine, and what it gets back: plain dataclasses, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field


class RequestError(ValueError):
    """A request this model cannot serve as asked (too long for its context, an unknown token id): a 400."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class LoadError(RuntimeError):
    """The model's weights or tokenizer could not be loaded; the message says what and where."""


@dataclass(frozen=True)
class SamplingParams:
    """OpenAI's sampling settings. temperature 0 is greedy decoding (the same tokens as `model.generate`)."""

    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k cut (vLLM's extension)
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int | None = None  # None: none; 0: the chosen token's only; k: also the k most likely tokens
    echo: bool = False  # also score the prompt: its tokens' logprobs (needs `logprobs`)
    ignore_eos: bool = False  # keep going past end-of-sequence (benchmarks; vLLM's extension)
    stream: bool = False  # deliver text as it is made

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def scores_prompt(self) -> bool:
        return self.echo and self.logprobs is not None


@dataclass
class TokenLogprob:
    """A token's log probability under the model (before temperature), with the most likely alternatives."""

    token_id: int
    logprob: float
    top: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class Delta:
    """New text of one sample while it streams; `finish_reason` set on its last delta."""

    index: int
    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None


@dataclass
class SampleResult:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (end of sequence or a stop string) or "length" (max_tokens or the context)
    logprobs: list[TokenLogprob] | None = None
    generated: int = 0  # tokens made, the end-of-sequence token included: what usage counts


@dataclass
class RequestResult:
    prompt_ids: list[int]
    samples: list[SampleResult]
    prompt_logprobs: list[TokenLogprob | None] | None = None  # echo: None for the first token, which has no context

    @property
    def completion_tokens(self) -> int:
        return sum(s.generated for s in self.samples)
