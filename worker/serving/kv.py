"""Row surgery on a transformers DynamicCache: rows leave (evict), batches join (merge), dead padding goes (trim).

Every row is left-padded to the batch's width; a zero in the attention mask hides a padded column. Keys are cached
after the rotary embedding, so padding on the left never changes what a row attends to or where it is."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def new_cache(model: Any) -> Any:
    from transformers import DynamicCache

    return DynamicCache(config=model.config)


def mergeable(cache: Any) -> bool:
    """Whether this cache's layers are plain growing tensors that rows can be padded and stacked in.

    Sliding-window and linear-attention layers keep state that left padding would break: such models are served
    batch by batch, without rows joining a running batch."""
    from transformers.cache_utils import DynamicLayer

    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


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
