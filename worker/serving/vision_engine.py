"""Serving a vision-language model (LLaVA-style, transformers): images and text through the model's processor and
chat template, answers from `generate`, one request at a time on the model's lock.

Vision requests are few and heavy (the image tower runs per request); they go through `generate` rather than the
text engine's continuous batching, which knows nothing of pixel values."""

from __future__ import annotations

import threading
from typing import Any

from worker.serving.loading import LoadedModel, ModelSource, _context_length, _eos_ids, _merge_adapter, _torch_dtype
from worker.serving.params import LoadError, RequestError, RequestResult, SampleResult, SamplingParams
from worker.serving.settings import Resolved


def load_vision(source: ModelSource, resolved: Resolved) -> LoadedModel:
    """The model with its processor (in `extras`), the adapter merged into its weights."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(source.adapter or source.model)
        model = AutoModelForImageTextToText.from_pretrained(source.model, dtype=_torch_dtype(resolved.dtype))
    except Exception as exc:
        raise LoadError(f"could not load the vision-language model from {source.model}: {exc}") from exc
    if source.adapter:
        model = _merge_adapter(model, source.adapter)
    model = model.to(resolved.device).eval()
    tokenizer = processor.tokenizer
    return LoadedModel(model=model, tokenizer=tokenizer, family="vision", device=model.device,
                       context_length=_context_length(model.config, tokenizer), eos_ids=_eos_ids(model, tokenizer),
                       source=source, extras={"processor": processor})


class VisionEngine:
    """Chat with images: `answer` is synchronous (the server runs it in a thread) and serialised per model."""

    takes_images = True

    def __init__(self, loaded: LoadedModel, resolved: Resolved) -> None:
        self.loaded = loaded
        self.resolved = resolved
        self.settings = resolved.settings
        self._lock = threading.Lock()
        self._running = 0
        self.requests = 0

    def busy(self) -> bool:
        return self._running > 0

    def close(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {**self.resolved.describe(), "family": "vision", "requests": self.requests}

    def answer(self, messages: list[dict[str, Any]], images: list[Any], params: SamplingParams,
               asked: int | None) -> RequestResult:
        """n samples for one conversation (content parts with {"type": "image"} where each image goes)."""
        import torch

        processor = self.loaded.extras["processor"]
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                               return_tensors="pt", images=images or None)
        prompt = [int(i) for i in inputs["input_ids"][0]]
        context = self.loaded.context_length
        room = context - len(prompt)
        if room <= 0 or (asked is not None and asked > room):
            raise RequestError(f"This model's maximum context length is {context} tokens; the prompt has "
                               f"{len(prompt)} with its image tokens" + (f" and max_tokens asks for {asked} more."
                                                                         if asked else "."), param="messages")
        max_tokens = min(asked or params.max_tokens, room)
        inputs = {k: v.to(self.loaded.device) for k, v in inputs.items()}
        sampling: dict[str, Any] = {"do_sample": not params.greedy}
        if not params.greedy:
            sampling.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or None)
        samples = []
        with self._lock:
            self._running += 1
            self.requests += 1
            try:
                for index in range(params.n):
                    if params.seed is not None:
                        torch.manual_seed(params.seed + index)
                    with torch.no_grad():
                        out = self.loaded.model.generate(**inputs, max_new_tokens=max_tokens, **sampling)
                    samples.append(self._sample(index, [int(t) for t in out[0][len(prompt):]], params, max_tokens))
            finally:
                self._running -= 1
        return RequestResult(prompt_ids=prompt, samples=samples)

    def _sample(self, index: int, ids: list[int], params: SamplingParams, max_tokens: int) -> SampleResult:
        tokenizer = self.loaded.tokenizer
        eos = next((n for n, t in enumerate(ids) if t in self.loaded.eos_ids), None)
        kept = ids[:eos] if eos is not None else ids
        text = tokenizer.decode(kept, skip_special_tokens=True)
        finish = "stop" if eos is not None else ("length" if len(ids) >= max_tokens else "stop")
        for stop in params.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, finish = text[:cut], "stop"
        return SampleResult(index=index, text=text, token_ids=kept, finish_reason=finish,
                            generated=len(ids) if eos is None else eos + 1)
