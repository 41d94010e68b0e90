"""Row surgery on a transformers DynamicCache: rows leave (evict), batches join (merge), dead padding goes (trim).

Every row is left-padded to the batch's width; a zero in the attention mask hides a padded column. Keys are cached
after the rotary embedding, so padding on the left never changes what a row attends to or where it is."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicCache, DynamicLayer

GROW = 64  # tokens of room added whenever a layer's buffer is full


class SlabLayer(DynamicLayer):
    """A DynamicLayer whose keys and values live in a buffer with room to grow.

    transformers' DynamicLayer appends a token by concatenating, which copies the layer's whole cache every step;
    here a step writes the new token in place and the cache is copied only when the buffer is full (every GROW
    tokens) or after row surgery (evict, merge, trim), which replaces `keys`/`values` and so the buffer."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._kbuf = self._vbuf = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length, new = self.get_seq_length(), key_states.shape[-2]
        stale = self._kbuf is None or self.keys.data_ptr() != self._kbuf.data_ptr() \
            or self.keys.shape[0] != self._kbuf.shape[0]
        if stale or length + new > self._kbuf.shape[-2]:
            self._reserve(length, length + new + GROW, key_states, value_states)
        self._kbuf[:, :, length:length + new] = key_states
        self._vbuf[:, :, length:length + new] = value_states
        self.keys, self.values = self._kbuf[:, :, :length + new], self._vbuf[:, :, :length + new]
        return self.keys, self.values

    def _reserve(self, length: int, capacity: int, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        rows, heads, _, dim = key_states.shape
        kbuf = key_states.new_empty((rows, heads, capacity, dim))
        vbuf = value_states.new_empty((rows, value_states.shape[1], capacity, value_states.shape[-1]))
        if length:
            kbuf[:, :, :length] = self.keys
            vbuf[:, :, :length] = self.values
        self._kbuf, self._vbuf = kbuf, vbuf


def new_cache(model: Any) -> Any:
    """A DynamicCache for the model; slab layers where every layer is a plain growing one (no sliding window)."""
    cache = DynamicCache(config=model.config)
    if cache.layers and all(type(layer) is DynamicLayer for layer in cache.layers):
        cache.layers = [SlabLayer() for _ in cache.layers]
    return cache


def mergeable(cache: Any) -> bool:
    """Whether this cache's layers are plain growing tensors that rows can be padded and stacked in.

    Sliding-window and linear-attention layers keep state that left padding would break: such models are served
    batch by batch, without rows joining a running batch."""
    return bool(cache.layers) and all(type(layer) in (DynamicLayer, SlabLayer) for layer in cache.layers)


def select_rows(cache: Any, rows: torch.Tensor) -> None:
    cache.batch_select_indices(rows)


def pad_left(cache: Any, columns: int) -> None:
    """Add `columns` masked columns in front of every row."""
    if columns <= 0:
        return
    for layer in cache.layers:
        layer.keys = F.pad(layer.keys, (0, 0, columns, 0))
        layer.values = F.pad(layer.values, (0, 0, columns, 0))


def append_rows(cache: Any, other: Any) -> None:
    """Stack `other`'s rows under `cache`'s (both already the same width)."""
    for layer, extra in zip(cache.layers, other.layers, strict=True):
        layer.keys = torch.cat([layer.keys, extra.keys], dim=0)
        layer.values = torch.cat([layer.values, extra.values], dim=0)


def drop_leading(cache: Any, columns: int) -> None:
    """Remove `columns` columns from the front (padding no remaining row uses)."""
    if columns <= 0:
        return
    for layer in cache.layers:
        layer.keys = layer.keys[:, :, columns:]
        layer.values = layer.values[:, :, columns:]
