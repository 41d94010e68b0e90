"""A running batch: rows decoding together over one KV cache, rows joining between steps and leaving when done."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from worker.serving import kv
from worker.serving.loading import LoadedModel
from worker.serving.sampling import RowSampling
from worker.serving.sequence import Sequence


def _accepts_logits_to_keep(model: Any) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


class DecodeBatch:
    """Rows left-padded to one width. `pending` holds each row's last sampled token, fed at the next step."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.rows: list[Sequence] = []
        self.cache: Any = None
        self.mask: torch.Tensor | None = None  # [rows, width], 1 where a column holds a real token
        self.positions: torch.Tensor | None = None  # [rows], the position of the pending token
        self.pending: torch.Tensor | None = None  # [rows]
        self.sampling: RowSampling | None = None
        self.can_merge = True
        self._keep_arg = {"logits_to_keep": 1} if _accepts_logits_to_keep(loaded.model) else {}

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return 0 if self.mask is None else int(self.mask.shape[1])

    @property
    def cells(self) -> int:
        return len(self.rows) * self.width

    @torch.inference_mode()
    def prefill(self, group: list[Sequence]) -> list[Sequence]:
        """Run the prompts of `group` (each distinct request once, its samples sharing the cache); returns the rows
        that finished on their first token."""
        loaded = self.loaded
        requests = list(dict.fromkeys(seq.request for seq in group))
        where = {request.id: i for i, request in enumerate(requests)}
        width = max(len(r.prompt_ids) for r in requests)
        pad = loaded.tokenizer.pad_token_id
        ids = torch.full((len(requests), width), pad, dtype=torch.long)
        mask = torch.zeros((len(requests), width), dtype=torch.long)
        for i, request in enumerate(requests):
            ids[i, width - len(request.prompt_ids):] = torch.tensor(request.prompt_ids)
            mask[i, width - len(request.prompt_ids):] = 1
        ids, mask = ids.to(loaded.device), mask.to(loaded.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = kv.new_cache(loaded.model)
        out = loaded.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                           use_cache=True, **self._keep_arg)
        logits = out.logits[:, -1, :].float()
        index = [where[seq.request.id] for seq in group]
        if index != list(range(len(requests))):
            # n samples of one prompt: one prefill, the cache rows copied per sample.
            rows = torch.tensor(index, dtype=torch.long, device=loaded.device)
            kv.select_rows(cache, rows)
            mask, logits = mask.index_select(0, rows), logits.index_select(0, rows)
        self.rows, self.cache, self.mask = list(group), cache, mask
        self.positions = mask.sum(dim=1)
        self.can_merge = kv.mergeable(cache)
        self._resample()
        return self._take(logits)

    @torch.inference_mode()
    def step(self) -> list[Sequence]:
        """One decoding step for every row; returns the rows that finished."""
        device = self.loaded.device
        self.mask = torch.cat([self.mask, torch.ones((len(self.rows), 1), dtype=torch.long, device=device)], dim=1)
        out = self.loaded.model(input_ids=self.pending[:, None], attention_mask=self.mask,
                                position_ids=self.positions[:, None], past_key_values=self.cache, use_cache=True)
        self.positions = self.positions + 1
        return self._take(out.logits[:, -1, :].float())

    def _take(self, logits: torch.Tensor) -> list[Sequence]:
        tokens, logprobs = self.sampling.pick(logits)
        self.pending = tokens
        tokenizer = self.loaded.tokenizer
        token_list = tokens.tolist()
        return [row for row, token, logprob in zip(self.rows, token_list, logprobs, strict=True)
                if row.append(token, logprob, tokenizer)]

    def _resample(self) -> None:
        self.sampling = RowSampling([row.params for row in self.rows], [row.generator for row in self.rows],
                                    self.loaded.device)

    def evict(self, leaving: list[Sequence]) -> None:
        """Drop finished rows, then the columns of padding no remaining row needs."""
        if not leaving:
            return
        gone = {id(row) for row in leaving}
        keep = [i for i, row in enumerate(self.rows) if id(row) not in gone]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache = self.mask = self.positions = self.pending = None
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.loaded.device)
        kv.select_rows(self.cache, index)
        self.mask = self.mask.index_select(0, index)
        self.positions, self.pending = self.positions.index_select(0, index), self.pending.index_select(0, index)
        if self.can_merge:
            lead = int(self.mask.any(dim=0).int().argmax())
            kv.drop_leading(self.cache, lead)
            self.mask = self.mask[:, lead:]
        self._resample()

    def merge(self, other: DecodeBatch) -> None:
        """Take `other`'s rows into this batch (after both prefilled): pad the narrower on the left, stack."""
        if not other.rows:
            return
        if not self.rows:
            self.__dict__.update(other.__dict__)
            return
        width = max(self.width, other.width)
        for part in (self, other):
            kv.pad_left(part.cache, width - part.width)
            part.mask = torch.nn.functional.pad(part.mask, (width - part.width, 0))
        kv.append_rows(self.cache, other.cache)
        self.mask = torch.cat([self.mask, other.mask], dim=0)
        self.positions = torch.cat([self.positions, other.positions])
        self.pending = torch.cat([self.pending, other.pending])
        self.rows += other.rows
        self._resample()
