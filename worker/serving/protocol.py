"""OpenAI's protocol around the engine: request bodies to prompt ids and sampling settings, results to responses."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from app.serving.schemas import ChatCompletionRequest, CompletionRequest
from worker.serving.params import RequestError, RequestResult, SampleResult, SamplingParams, TokenLogprob
from worker.training.render import has_chat_template, prompt_text


@dataclass
class Prepared:
    """What the engine is asked: one or more prompts (as ids) with one set of sampling settings."""

    prompts: list[list[int]]
    params: SamplingParams
    echo_texts: list[str] | None = None  # completions with echo: each prompt's text, to put before the answer


def _limit(name: str, prompt_len: int, asked: int | None, default: int, context: int) -> int:
    """max_tokens: as asked when it fits the context (400 when not); the default cut to what is left."""
    room = context - prompt_len
    if asked is None:
        return max(0, min(default, room))
    if prompt_len + asked > context:
        raise RequestError(f"This model's maximum context length is {context} tokens; the prompt has {prompt_len} "
                           f"and {name} asks for {asked} more.", param=name)
    return asked


def _sampling(body: ChatCompletionRequest | CompletionRequest, **values: Any) -> SamplingParams:
    return SamplingParams(temperature=1.0 if body.temperature is None else body.temperature,
                          top_p=1.0 if body.top_p is None else body.top_p, top_k=body.top_k or 0, n=body.n,
                          stop=body.stop_strings(), seed=body.seed, ignore_eos=body.ignore_eos, stream=body.stream,
                          **values)


def prepare_chat(body: ChatCompletionRequest, tokenizer: Any, context: int, default_max_tokens: int) -> Prepared:
    """The conversation through the model's chat template (Alpaca's prompt for a model without one)."""
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
    text = prompt_text({"prompt": messages}, tokenizer)
    ids = list(tokenizer(text=text, add_special_tokens=not has_chat_template(tokenizer))["input_ids"])
    asked = body.answer_limit()
    name = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
    max_tokens = _limit(name, len(ids), asked, default_max_tokens, context)
    logprobs = (body.top_logprobs or 0) if body.logprobs else None
    return Prepared(prompts=[ids], params=_sampling(body, max_tokens=max_tokens, logprobs=logprobs))


def prepare_completion(body: CompletionRequest, tokenizer: Any, context: int) -> Prepared:
    """Each prompt as token ids (text is tokenized with the model's special tokens, as vLLM does)."""
    prompts, texts = [], []
    for prompt in body.prompts():
        if isinstance(prompt, str):
            prompts.append(list(tokenizer(text=prompt, add_special_tokens=True)["input_ids"]))
            texts.append(prompt)
        else:
            prompts.append(list(prompt))
            texts.append(tokenizer.decode(prompt, skip_special_tokens=False))
    for ids in prompts:
        _limit("max_tokens", len(ids), body.max_tokens, body.max_tokens, context)
    params = _sampling(body, max_tokens=body.max_tokens, logprobs=body.logprobs, echo=body.echo)
    return Prepared(prompts=prompts, params=params, echo_texts=texts if body.echo else None)


# ---------------------------------------------------------------------------------------------- responses


def _token_strings(tokenizer: Any, ids: list[int]) -> list[str]:
    return tokenizer.batch_decode([[i] for i in ids], skip_special_tokens=False) if ids else []


def usage(prompts: list[list[int]], results: list[RequestResult]) -> dict[str, int]:
    prompt_tokens = sum(len(p) for p in prompts)
    completion_tokens = sum(r.completion_tokens for r in results)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chat_logprobs(tokenizer: Any, entries: list[TokenLogprob]) -> dict[str, Any]:
    """OpenAI's chat logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}."""
    ids = [e.token_id for e in entries] + [i for e in entries for i, _ in e.top]
    names = dict(zip(ids, _token_strings(tokenizer, ids), strict=True))

    def one(token_id: int, logprob: float) -> dict[str, Any]:
        text = names[token_id]
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    return {"content": [{**one(e.token_id, e.logprob), "top_logprobs": [one(i, lp) for i, lp in e.top]}
                        for e in entries]}


def completion_logprobs(tokenizer: Any, entries: list[TokenLogprob | None], ids: list[int]) -> dict[str, Any]:
    """OpenAI's legacy logprobs: tokens, token_logprobs, top_logprobs (the chosen token included), text_offset.
    An entry of None (the prompt's first token under echo) has no logprob."""
    extra = [i for e in entries if e is not None for i, _ in e.top]
    names = dict(zip(ids + extra, _token_strings(tokenizer, ids + extra), strict=True))
    tokens = [names[i] for i in ids]
    offsets, at = [], 0
    for text in tokens:
        offsets.append(at)
        at += len(text)
    tops: list[dict[str, float] | None] = []
    for entry in entries:
        if entry is None:
            tops.append(None)
            continue
        top = {names[i]: lp for i, lp in entry.top}
        top.setdefault(names[entry.token_id], entry.logprob)
        tops.append(top)
    return {"tokens": tokens, "token_logprobs": [e.logprob if e is not None else None for e in entries],
            "top_logprobs": tops, "text_offset": offsets}


def envelope(kind: str, model: str) -> dict[str, Any]:
    prefix = "chatcmpl" if kind.startswith("chat") else "cmpl"
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": model}


def chat_response(model: str, prepared: Prepared, results: list[RequestResult], tokenizer: Any) -> dict[str, Any]:
    choices = []
    for sample in results[0].samples:
        logprobs = chat_logprobs(tokenizer, sample.logprobs) if sample.logprobs is not None else None
        choices.append({"index": sample.index, "message": {"role": "assistant", "content": sample.text},
                        "logprobs": logprobs, "finish_reason": sample.finish_reason})
    return {**envelope("chat.completion", model), "choices": choices, "usage": usage(prepared.prompts, results)}


def _completion_choice(prepared: Prepared, result: RequestResult, sample: SampleResult, index: int,
                       tokenizer: Any) -> dict[str, Any]:
    text, logprobs = sample.text, None
    prompt_index = index // prepared.params.n
    if prepared.echo_texts is not None:
        text = prepared.echo_texts[prompt_index] + text
    if sample.logprobs is not None:
        entries: list[TokenLogprob | None] = list(sample.logprobs)
        ids = [e.token_id for e in sample.logprobs]
        if prepared.params.echo:
            entries = list(result.prompt_logprobs or [None] * len(result.prompt_ids)) + entries
            ids = list(result.prompt_ids) + ids
        logprobs = completion_logprobs(tokenizer, entries, ids)
    return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": sample.finish_reason}


def completion_response(model: str, prepared: Prepared, results: list[RequestResult], tokenizer: Any
                        ) -> dict[str, Any]:
    """Choices in OpenAI's order: prompt by prompt, n samples each (index = prompt * n + sample)."""
    n = prepared.params.n
    choices = [_completion_choice(prepared, result, sample, p * n + sample.index, tokenizer)
               for p, result in enumerate(results) for sample in result.samples]
    return {**envelope("text_completion", model), "choices": choices, "usage": usage(prepared.prompts, results)}


def chunk(kind: str, envelope: dict[str, Any], choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {**envelope, "object": kind, "choices": choices, **extra}
