"""The engine on vLLM, where the package is installed and a GPU is present (settings: serving_engine).

vLLM brings paged attention, continuous batching and CUDA graphs; this class only adapts it to LocalEngine's
interface (submit with a sink, cancel, close, describe). Its offline `LLM.generate` is the API used, the one vLLM
keeps stable: the engine thread hands it every request waiting at that moment and vLLM schedules them itself, so
requests arriving meanwhile wait for the next call. Text arrives whole, at the end, even when streaming.

Not exercised by the CPU test suite (vLLM needs a GPU); see README "Serving and backends" for how to check it.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from worker.serving.loading import LoadedModel, ModelSource, _eos_ids
from worker.serving.params import (
    Delta,
    LoadError,
    RequestError,
    RequestResult,
    SampleResult,
    SamplingParams,
    TokenLogprob,
)
from worker.serving.sequence import EngineRequest, Sink
from worker.serving.settings import Resolved

logger = logging.getLogger("tuneloop.serving")


def _entry(chosen: int, alternatives: dict[int, Any] | None, top: int) -> TokenLogprob | None:
    """vLLM's {token id: Logprob} for one position (the chosen token and the top-k) as a TokenLogprob."""
    if not alternatives or chosen not in alternatives:
        return None
    ranked = sorted(alternatives.items(), key=lambda item: -item[1].logprob)[:top]
    return TokenLogprob(token_id=chosen, logprob=alternatives[chosen].logprob,
                        top=[(token, lp.logprob) for token, lp in ranked])


class VllmEngine:
    def __init__(self, source: ModelSource, resolved: Resolved) -> None:
        from vllm import LLM
        from vllm.lora.request import LoRARequest

        from worker.training.modeling import load_tokenizer

        self.resolved = resolved
        self.settings = resolved.settings
        try:
            self.llm = LLM(model=source.model, dtype=resolved.dtype, enable_lora=bool(source.adapter),
                           max_lora_rank=64, gpu_memory_utilization=self.settings.gpu_memory_fraction,
                           max_num_seqs=max(resolved.max_batch_size, 256))
        except Exception as exc:
            raise LoadError(f"vLLM could not load {source.describe()}: {exc}") from exc
        self.lora = LoRARequest("adapter", 1, source.adapter) if source.adapter else None
        tokenizer = load_tokenizer(source.model)
        context = self.llm.llm_engine.model_config.max_model_len
        self.loaded = LoadedModel(model=None, tokenizer=tokenizer, family="causal-lm", device=None,
                                  context_length=context, eos_ids=_eos_ids(None, tokenizer), source=source)
        self._inbox: queue.SimpleQueue[EngineRequest | None] = queue.SimpleQueue()
        self._busy = False
        self._requests = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="tuneloop-vllm", daemon=True)
        self._thread.start()

    def submit(self, prompt_ids: list[int], params: SamplingParams, sink: Sink) -> EngineRequest:
        context = self.loaded.context_length
        if not prompt_ids:
            raise RequestError("The prompt is empty.", param="prompt")
        if len(prompt_ids) >= context:
            raise RequestError(f"This model's maximum context length is {context} tokens; the prompt has "
                               f"{len(prompt_ids)}.", param="messages")
        request = EngineRequest(prompt_ids, params, sink, max_length=context)
        self._inbox.put(request)
        return request

    def cancel(self, request: EngineRequest) -> None:
        request.cancelled = True  # vLLM's offline call cannot be interrupted; the answer is dropped

    def close(self) -> None:
        self._closed = True
        self._inbox.put(None)
        self._thread.join(timeout=30)

    def busy(self) -> bool:
        return self._busy or not self._inbox.empty()

    def describe(self) -> dict[str, Any]:
        return {**self.resolved.describe(), "requests": self._requests}

    def _loop(self) -> None:
        while not self._closed:
            first = self._inbox.get()
            if first is None:
                return
            batch = [first]
            while not self._inbox.empty():
                item = self._inbox.get_nowait()
                if item is None:
                    self._closed = True
                    break
                batch.append(item)
            batch = [r for r in batch if not r.cancelled]
            self._busy = True
            try:
                self._run(batch)
            except Exception as exc:
                logger.exception("serving: vLLM failed a batch")
                for request in batch:
                    request.fail(exc)
            finally:
                self._busy = False

    def _sampling(self, params: SamplingParams) -> Any:
        from vllm import SamplingParams as VllmParams

        return VllmParams(n=params.n, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or -1,
                          max_tokens=max(1, params.max_tokens), stop=list(params.stop) or None, seed=params.seed,
                          logprobs=params.logprobs, ignore_eos=params.ignore_eos,
                          prompt_logprobs=params.logprobs if params.scores_prompt else None)

    def _run(self, batch: list[EngineRequest]) -> None:
        self._requests += len(batch)
        outputs = self.llm.generate([{"prompt_token_ids": r.prompt_ids} for r in batch],
                                    [self._sampling(r.params) for r in batch], lora_request=self.lora,
                                    use_tqdm=False)
        for request, output in zip(batch, outputs, strict=True):
            if not request.cancelled:
                self._deliver(request, output)

    def _deliver(self, request: EngineRequest, output: Any) -> None:
        params = request.params
        top = params.logprobs or 0
        prompt_logprobs = None
        if params.scores_prompt:
            raw = output.prompt_logprobs or [None] * len(request.prompt_ids)
            prompt_logprobs = [None] + [_entry(token, alternatives, top) for token, alternatives in
                                        zip(request.prompt_ids[1:], raw[1:], strict=True)]
        samples = []
        for completion in output.outputs:
            tokens = [] if params.max_tokens == 0 else list(completion.token_ids)
            logprobs = None
            if params.logprobs is not None:
                logprobs = [e for e in (_entry(t, a, top) for t, a in
                                        zip(tokens, completion.logprobs or [], strict=False)) if e is not None]
            finish = "length" if params.max_tokens == 0 else (completion.finish_reason or "length")
            text = "" if params.max_tokens == 0 else completion.text
            kept = [t for t in tokens if t not in self.loaded.eos_ids]
            samples.append(SampleResult(index=completion.index, text=text, token_ids=kept,
                                        finish_reason="stop" if finish == "stop" else "length",
                                        logprobs=logprobs, generated=len(tokens)))
            if params.stream:
                request.sink(Delta(index=completion.index, text=text, logprobs=logprobs or [],
                                   finish_reason=samples[-1].finish_reason))
        request.sink(RequestResult(prompt_ids=request.prompt_ids, samples=samples, prompt_logprobs=prompt_logprobs))
