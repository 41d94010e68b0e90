"""Whole batches through transformers' `generate` with a static KV cache (and, on a GPU, compiled decoding).

Static shapes are what CUDA graphs need: `generate` allocates the cache once per batch and, on CUDA, compiles the
decoding step (transformers' own, tested path). Our per-row settings ride along as a logits processor that picks
each row's token (greedy, or sampled with its own temperature, top-p and seed) and a stopping criterion that ends
each row on its own end-of-sequence, stop strings or max_tokens. Shapes are rounded up (rows to a power of two,
prompt width and new tokens to multiples of 64) so that a few compiled graphs serve every batch.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from worker.serving.loading import LoadedModel
from worker.serving.sampling import RowSampling
from worker.serving.scheduler import remaining
from worker.serving.sequence import Sequence

ROUND = 64


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


class StaticRunner:
    def __init__(self, loaded: LoadedModel, *, compiled: bool) -> None:
        self.loaded = loaded
        self.compiled = compiled

    @torch.inference_mode()
    def run(self, group: list[Sequence]) -> int:
        """Decode `group` to the end; returns the number of decoding steps."""
        loaded, device = self.loaded, self.loaded.device
        rows = 1 << (len(group) - 1).bit_length()  # dummy rows fill the batch up to a power of two
        width = _round_up(max(s.prompt_len for s in group), ROUND)
        # Rounded up for fewer distinct shapes, never past the model's context.
        width = min(width, loaded.context_length - 1)
        new_tokens = min(_round_up(max(remaining(s) for s in group), ROUND), loaded.context_length - width)
        pad = loaded.tokenizer.pad_token_id
        ids = torch.full((rows, width), pad, dtype=torch.long)
        mask = torch.zeros((rows, width), dtype=torch.long)
        for i, seq in enumerate(group):
            ids[i, width - seq.prompt_len:] = torch.tensor(seq.request.prompt_ids)
            mask[i, width - seq.prompt_len:] = 1
        mask[len(group):, -1] = 1  # a dummy row is one padding token, ignored
        picker = _Picker(group, rows, loaded)
        config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad, eos_token_id=None,
                                  cache_implementation="static", disable_compile=not self.compiled)
        loaded.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config,
                              logits_processor=LogitsProcessorList([picker]),
                              stopping_criteria=StoppingCriteriaList([_Stop(picker)]))
        return picker.steps


class _Picker(LogitsProcessor):
    """Chooses every row's token itself; `generate`'s greedy step then takes exactly that token."""

    def __init__(self, group: list[Sequence], rows: int, loaded: LoadedModel) -> None:
        self.group = group
        self.loaded = loaded
        self.sampling = RowSampling([s.params for s in group], [s.generator for s in group], loaded.device)
        self.done = torch.zeros(rows, dtype=torch.bool, device=loaded.device)
        self.done[len(group):] = True
        self.steps = 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        live = len(self.group)
        tokens, logprobs = self.sampling.pick(scores[:live].float())
        tokenizer = self.loaded.tokenizer
        for i, (seq, token) in enumerate(zip(self.group, tokens.tolist(), strict=True)):
            if not self.done[i] and (seq.request.cancelled or seq.append(token, logprobs[i], tokenizer)):
                self.done[i] = True
        self.steps += 1
        forced = torch.full_like(scores, float("-inf"))
        forced[:live].scatter_(1, tokens[:, None], 0.0)
        forced[live:, 0] = 0.0
        return forced


class _Stop(StoppingCriteria):
    def __init__(self, picker: _Picker) -> None:
        self.picker = picker

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        return self.picker.done.clone()
