"""OpenAI's request bodies for /v1/chat/completions and /v1/completions, as far as Tuneloop serves them.

Both the web app (which answers 400 before forwarding) and the model server validate with these. Fields OpenAI
has but the model server cannot honour are refused by name rather than ignored: a client must not believe a
penalty or a JSON schema was applied when it was not."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_N = 32
MAX_STOPS = 16
MAX_TOP_LOGPROBS = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamOptions(_Strict):
    include_usage: bool = False


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _text_only(self) -> ResponseFormat:
        if self.type != "text":
            raise ValueError(f"response_format {self.type} is not supported by Tuneloop's model server (no "
                             "schema-constrained decoding); ask for JSON in the prompt instead")
        return self


class ContentPart(_Strict):
    type: Literal["text", "image_url", "input_audio"]
    text: str | None = None
    image_url: dict[str, Any] | None = None
    input_audio: dict[str, Any] | None = None


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The content as plain text; parts other than text are refused (no vision model is served yet)."""
        if isinstance(self.content, str) or self.content is None:
            return self.content or ""
        kinds = {part.type for part in self.content} - {"text"}
        if kinds:
            raise ValueError(f"content parts of type {', '.join(sorted(kinds))} are not supported by this model")
        return "".join(part.text or "" for part in self.content)


class _Sampling(_Strict):
    model: str = Field(..., min_length=1, max_length=200, description="A local backend's name or run-<id>.")
    temperature: float | None = Field(None, ge=0, le=2, description="0 is greedy decoding; default 1.")
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0, description="Extension (as vLLM): keep the k most likely tokens; 0 = all.")
    n: int = Field(1, ge=1, le=MAX_N, description="Samples per prompt.")
    stop: str | list[str] | None = Field(None, description=f"Up to {MAX_STOPS} strings that end the answer.")
    seed: int | None = Field(None, ge=-(2**63), lt=2**63, description="Reproducible sampling.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    ignore_eos: bool = Field(False, description="Extension (as vLLM): keep writing past end-of-sequence.")

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > MAX_STOPS:
            raise ValueError(f"at most {MAX_STOPS} stop strings")
        if any(not s for s in stops):
            raise ValueError("a stop string may not be empty")
        return value

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _no_penalty(cls, value: float | None) -> float | None:
        if value:
            raise ValueError("penalties are not supported by Tuneloop's model server; leave them at 0")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _no_bias(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value:
            raise ValueError("logit_bias is not supported by Tuneloop's model server")
        return value

    def stop_strings(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1, description="Default: the server's serving_default_max_tokens.")
    max_completion_tokens: int | None = Field(None, ge=1, description="OpenAI's newer name for max_tokens.")
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: ResponseFormat | None = None

    @model_validator(mode="after")
    def _check(self) -> ChatCompletionRequest:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        for message in self.messages:
            message.text()
        if not any(m.role == "user" for m in self.messages):
            raise ValueError("messages needs at least one user message")
        return self

    def answer_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    prompt: str | list[str] | list[int] | list[list[int]] = Field(
        ..., description="Text, texts, or token ids (one prompt or several), as OpenAI's legacy completions.")
    max_tokens: int = Field(16, ge=0, description="0 with echo and logprobs scores the prompt only.")
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS,
                                 description="Log probabilities of each token and of the n most likely.")
    echo: bool = Field(False, description="Return the prompt before the answer (with its logprobs when asked).")
    suffix: None = None
    best_of: int | None = Field(None, ge=1, le=MAX_N)

    @model_validator(mode="after")
    def _check(self) -> CompletionRequest:
        if isinstance(self.prompt, list) and not self.prompt:
            raise ValueError("prompt may not be an empty list")
        if self.best_of is not None and self.best_of != self.n:
            raise ValueError("best_of other than n is not supported")
        if self.stream and self.echo:
            raise ValueError("echo cannot be combined with stream")
        return self

    def prompts(self) -> list[str | list[int]]:
        """Each prompt as text or as token ids."""
        prompt = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        if all(isinstance(p, int) for p in prompt):
            return [list(prompt)]  # type: ignore[arg-type]
        return list(prompt)  # type: ignore[arg-type]
