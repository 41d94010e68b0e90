"""OpenAI's requests for an encoder-decoder (the T5 family): what the encoder reads, and how long an answer may be.

Chat messages become one source text, the text Tuneloop trains encoder-decoders on (worker/training/seq2seq.py
`source_text`: the turns' contents, blank-line separated), whatever chat template the tokenizer brings: the
trainer ignores templates for these models, so a tuned T5 reads at serve time exactly what it read in training.
The encoder and the decoder each have the context length (T5's relative positions set none: the tokenizer's
declared limit, else 512); the prompt does not use up the answer's room as it does in a causal model."""

from __future__ import annotations

from typing import Any

from app.serving.schemas import ChatCompletionRequest, CompletionRequest
from worker.serving.params import RequestError
from worker.serving.protocol import Prepared, _sampling
from worker.training.seq2seq import source_text


def source(messages: list[dict[str, Any]]) -> str:
    """The encoder's input text for a conversation (tokenized with the model's special tokens, as in training)."""
    return source_text({"prompt": messages})


def _check_prompt(ids: list[int], context: int, param: str) -> None:
    if len(ids) > context:
        raise RequestError(f"This model's maximum context length is {context} tokens (what its encoder reads); "
                           f"the prompt has {len(ids)}. Shorten the prompt.", param=param)


def _limit(name: str, asked: int | None, default: int, context: int) -> int:
    """max_tokens: as asked when the decoder may write that much (400 when not); the default cut to the context."""
    if asked is None:
        return min(default, context)
    if asked > context:
        raise RequestError(f"This model writes at most {context} tokens per answer; {name} asks for {asked}.",
                           param=name)
    return asked


def prepare_chat(body: ChatCompletionRequest, tokenizer: Any, context: int, default_max_tokens: int) -> Prepared:
    """The conversation as one source text for the encoder."""
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
    ids = list(tokenizer(text=source(messages), add_special_tokens=True)["input_ids"])
    _check_prompt(ids, context, "messages")
    name = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
    max_tokens = _limit(name, body.answer_limit(), default_max_tokens, context)
    logprobs = (body.top_logprobs or 0) if body.logprobs else None
    return Prepared(prompts=[ids], params=_sampling(body, max_tokens=max_tokens, logprobs=logprobs))


def prepare_completion(body: CompletionRequest, tokenizer: Any, context: int) -> Prepared:
    """Each prompt as the encoder's input ids (text tokenized with the model's special tokens, as in training)."""
    if body.echo and body.logprobs is not None:
        raise RequestError("echo with logprobs scores the prompt, and an encoder-decoder model does not predict its "
                           "prompt: ask without logprobs, or without echo.", param="echo")
    prompts, texts = [], []
    for prompt in body.prompts():
        if isinstance(prompt, str):
            prompts.append(list(tokenizer(text=prompt, add_special_tokens=True)["input_ids"]))
            texts.append(prompt)
        else:
            prompts.append(list(prompt))
            texts.append(tokenizer.decode(prompt, skip_special_tokens=False))
    for ids in prompts:
        _check_prompt(ids, context, "prompt")
    _limit("max_tokens", body.max_tokens, body.max_tokens, context)
    params = _sampling(body, max_tokens=body.max_tokens, logprobs=body.logprobs, echo=body.echo)
    return Prepared(prompts=prompts, params=params, echo_texts=texts if body.echo else None)
