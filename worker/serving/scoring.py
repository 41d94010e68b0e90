"""Echo: the log probability of every prompt token given the tokens before it, in one forward pass per batch.

This is what log-likelihood evaluation asks (lm-evaluation-harness's `local-completions`, multiple-choice
benchmarks): `echo` with `logprobs` and `max_tokens` 0 or 1."""

from __future__ import annotations

import torch

from worker.serving.loading import LoadedModel
from worker.serving.params import TokenLogprob
from worker.serving.sampling import fill_logprobs
from worker.serving.sequence import EngineRequest


def take_scoring(queue: list[EngineRequest], budget: int) -> list[EngineRequest]:
    """Requests of similar prompt length whose padded batch fits `budget` tokens (one always goes)."""
    ordered = sorted(queue, key=lambda r: len(r.prompt_ids))
    group: list[EngineRequest] = []
    for request in ordered:
        width = len(request.prompt_ids)  # ascending: the newest is the longest
        if group and (len(group) + 1) * width > budget:
            break
        group.append(request)
    return group


@torch.inference_mode()
def score(loaded: LoadedModel, requests: list[EngineRequest]) -> torch.Tensor:
    """Fill each request's prompt_logprobs; returns the logits after each whole prompt [requests, vocab]."""
    width = max(len(r.prompt_ids) for r in requests)
    ids = torch.full((len(requests), width), loaded.tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, request in enumerate(requests):
        ids[i, width - len(request.prompt_ids):] = torch.tensor(request.prompt_ids)
        mask[i, width - len(request.prompt_ids):] = 1
    ids, mask = ids.to(loaded.device), mask.to(loaded.device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = loaded.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
    for i, request in enumerate(requests):
        start = width - len(request.prompt_ids)
        # Position t predicts token t + 1: the logits before the last prompt token score the prompt.
        rows = logits[i, start:width - 1].float()
        scored: list[TokenLogprob | None] = [None] * rows.shape[0]
        if rows.shape[0]:
            top = request.params.logprobs or 0
            fill_logprobs(scored, rows, ids[i, start + 1:], list(range(rows.shape[0])), [top] * rows.shape[0])
        request.prompt_logprobs = [None, *scored]
    return logits[:, -1, :].float()
