"""Choosing the next token for every row of a batch, each row with its own settings and random generator."""

from __future__ import annotations

from typing import Any

import torch

from worker.serving.params import SamplingParams, TokenLogprob


def row_generator(seed: int | None, index: int, device: Any) -> torch.Generator | None:
    """A generator for one sample of a seeded request (None: the engine's shared randomness).

    Sample i of a request gets seed + i, so the n samples differ and each is reproducible on its own."""
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed((seed + index) % (2**63))
    return generator


class RowSampling:
    """The per-row settings of a batch as tensors, rebuilt whenever rows join or leave."""

    def __init__(self, params: list[SamplingParams], generators: list[torch.Generator | None], device: Any) -> None:
        self.size = len(params)
        sampled = [i for i, p in enumerate(params) if not p.greedy]
        self.sampled = torch.tensor(sampled, dtype=torch.long, device=device) if sampled else None
        if sampled:
            self.temperature = torch.tensor([params[i].temperature for i in sampled], device=device)[:, None]
            # top_p 1 keeps everything: 2 makes sure float rounding of the cumulative mass never drops the tail.
            top_p = torch.tensor([params[i].top_p if params[i].top_p < 1 else 2.0 for i in sampled], device=device)
            top_k = torch.tensor([params[i].top_k for i in sampled], device=device)
            self.filtered = bool((top_p <= 1).any() or (top_k > 0).any())
            self.top_p, self.top_k = top_p[:, None], top_k[:, None]
        # Positions within `sampled` of the rows with their own generator, and of those drawing from the shared one.
        self.seeded = [(j, generators[i]) for j, i in enumerate(sampled) if generators[i] is not None]
        shared = [j for j, i in enumerate(sampled) if generators[i] is None]
        self.shared = torch.tensor(shared, dtype=torch.long, device=device) if shared else None
        self.logprob_rows = [i for i, p in enumerate(params) if p.logprobs is not None]
        self.top_counts = [params[i].logprobs or 0 for i in self.logprob_rows]

    def pick(self, logits: torch.Tensor) -> tuple[torch.Tensor, list[TokenLogprob | None]]:
        """Next token ids [B] for logits [B, V] (float32), and each row's logprobs where it asked for them."""
        tokens = logits.argmax(dim=-1)
        if self.sampled is not None:
            tokens[self.sampled] = self._sample(logits.index_select(0, self.sampled))
        return tokens, self._logprobs(logits, tokens)

    def _sample(self, logits: torch.Tensor) -> torch.Tensor:
        scaled = logits / self.temperature
        if self.filtered:
            scaled, order = scaled.sort(dim=-1, descending=True)
            probs = scaled.softmax(dim=-1)
            # Nucleus: drop a token once the mass before it already reaches top_p (the most likely always stays).
            drop = (probs.cumsum(dim=-1) - probs) >= self.top_p
            ranks = torch.arange(scaled.shape[-1], device=scaled.device)[None, :]
            drop |= (self.top_k > 0) & (ranks >= self.top_k)
            scaled = scaled.masked_fill(drop, float("-inf"))
        probs = scaled.softmax(dim=-1)
        chosen = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
        if self.shared is not None:
            chosen[self.shared] = torch.multinomial(probs.index_select(0, self.shared), 1).squeeze(-1)
        for j, generator in self.seeded:
            chosen[j] = torch.multinomial(probs[j], 1, generator=generator)[0]
        return order.gather(-1, chosen[:, None]).squeeze(-1) if self.filtered else chosen

    def _logprobs(self, logits: torch.Tensor, tokens: torch.Tensor) -> list[TokenLogprob | None]:
        out: list[TokenLogprob | None] = [None] * self.size
        if not self.logprob_rows:
            return out
        return fill_logprobs(out, logits, tokens, self.logprob_rows, self.top_counts)


def fill_logprobs(out: list[TokenLogprob | None], logits: torch.Tensor, tokens: torch.Tensor, rows: list[int],
                  top_counts: list[int]) -> list[TokenLogprob | None]:
    """Set out[row] to the log probability of tokens[row] under logits[row], with its top alternatives."""
    index = torch.tensor(rows, dtype=torch.long, device=logits.device)
    logprobs = torch.log_softmax(logits.index_select(0, index).float(), dim=-1)
    chosen = logprobs.gather(-1, tokens.index_select(0, index)[:, None]).squeeze(-1).tolist()
    ids = tokens.index_select(0, index).tolist()
    k = max(top_counts)
    top_values = top_ids = None
    if k:
        values, indices = logprobs.topk(k, dim=-1)
        top_values, top_ids = values.tolist(), indices.tolist()
    for position, row in enumerate(rows):
        count = top_counts[position]
        top = list(zip(top_ids[position][:count], top_values[position][:count], strict=True)) if count else []
        out[row] = TokenLogprob(token_id=ids[position], logprob=chosen[position], top=top)
    return out
