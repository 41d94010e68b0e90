"""Planning a mixture from counts alone: how many rows each (source, task, prompt setting, inverted) cell gives.

Sources get their weight of the total. Within a source, tasks share in proportion to their size capped at the
source's cap (examples-proportional mixing with a cap, as in T5 and Flan). Within a task, prompt settings
share by the setting split, and inverted rows weigh `inverted_weight` times a plain row. Every split is an
integer apportionment that never asks a cell for more rows than it has, so the plan can be sampled exactly.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

EPSILON = 1e-9


@dataclass(frozen=True, order=True)
class Cell:
    source: str
    task: str
    setting: str
    inverted: bool

    @property
    def key(self) -> str:
        return "\x1f".join((self.source, self.task, self.setting, "1" if self.inverted else "0"))

    @classmethod
    def of_key(cls, key: str) -> Cell:
        source, task, setting, inverted = key.split("\x1f")
        return cls(source, task, setting, inverted == "1")


class MixtureError(ValueError):
    """The recipe cannot be met by the stored rows; `details` name the source and the numbers."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass
class Recipe:
    total: int
    weights: dict[str, float]
    caps: dict[str, int] = field(default_factory=dict)  # per source: most rows one task may give
    settings: dict[str, float] | None = None  # None: every setting as it comes
    inverted_weight: float = 1.0

    @classmethod
    def of(cls, data: dict[str, Any]) -> Recipe:
        return cls(total=int(data["total"]), weights=dict(data["weights"]), caps=dict(data.get("caps") or {}),
                   settings=data.get("settings"), inverted_weight=float(data.get("inverted_weight", 1.0)))


def apportion(n: int, weights: list[float], bounds: list[int], rotate: int = 0) -> list[int]:
    """n split into integers in proportion to weights, none above its bound (water-filling), rounded by largest
    remainder; equal remainders go first to the item at `rotate` and on from there (callers vary it, so rounding
    over many small splits favours no item). Items of weight 0 get nothing; n must fit under the usable bounds."""
    alloc = [0.0] * len(weights)
    active = [i for i, w in enumerate(weights) if w > 0 and bounds[i] > 0]
    if n > sum(bounds[i] for i in active):
        raise ValueError(f"{n} does not fit under the bounds {sum(bounds[i] for i in active)}")
    remaining = float(n)
    while active:
        total_weight = sum(weights[i] for i in active)
        full = [i for i in active if remaining * weights[i] / total_weight >= bounds[i] - EPSILON]
        if not full:
            for i in active:
                alloc[i] = remaining * weights[i] / total_weight
            break
        for i in full:
            alloc[i] = float(bounds[i])
            remaining -= bounds[i]
        active = [i for i in active if i not in full]
    counts = [min(int(a + EPSILON), bounds[i]) for i, a in enumerate(alloc)]
    short = n - sum(counts)
    size = max(len(alloc), 1)
    order = sorted(range(len(alloc)), key=lambda i: (-round(alloc[i] - counts[i], 9), (i - rotate) % size))
    for i in order:
        if short <= 0:
            break
        if counts[i] < bounds[i] and weights[i] > 0:
            counts[i] += 1
            short -= 1
    return counts


def _usable(cell: Cell, recipe: Recipe) -> bool:
    if cell.source not in recipe.weights or recipe.weights[cell.source] <= 0:
        return False
    if recipe.settings is not None and recipe.settings.get(cell.setting, 0) <= 0:
        return False
    return not (cell.inverted and recipe.inverted_weight <= 0)


def plan(counts: dict[Cell, int], recipe: Recipe) -> dict[Cell, int]:
    """Rows to take from each cell; raises MixtureError when the stored rows cannot meet the recipe."""
    usable = {c: n for c, n in counts.items() if n > 0 and _usable(c, recipe)}
    sources = sorted(s for s, w in recipe.weights.items() if w > 0)
    per_source = dict(zip(sources, apportion(recipe.total, [recipe.weights[s] for s in sources],
                                             [recipe.total] * len(sources)), strict=True))
    tasks: dict[str, dict[str, dict[Cell, int]]] = defaultdict(lambda: defaultdict(dict))
    for cell, n in usable.items():
        tasks[cell.source][cell.task][cell] = n
    problems = []
    for source in sources:
        cap = recipe.caps.get(source)
        sizes = {t: sum(cells.values()) for t, cells in tasks[source].items()}
        capacity = sum(min(n, cap) if cap else n for n in sizes.values())
        if per_source[source] > capacity:
            held = (f"its {len(sizes)} task{'s' * (len(sizes) != 1)} hold {capacity:,} usable rows"
                    + (f" under the cap of {cap:,} rows a task" if cap else ""))
            problems.append({"field": f"mixture.weights.{source}",
                             "message": f"source '{source}' needs {per_source[source]:,} rows "
                                        f"({recipe.weights[source]:g} of {recipe.total:,}), but {held}"})
    if problems:
        raise MixtureError("The stored rows cannot meet this mixture: " + "; ".join(p["message"] for p in problems)
                           + ". Lower the total, change the weights or caps, or render more rows.", problems)
    quotas: dict[Cell, int] = {}
    for source in sources:
        cap = recipe.caps.get(source)
        names = sorted(tasks[source])
        sizes = [sum(tasks[source][t].values()) for t in names]
        bounds = [min(n, cap) if cap else n for n in sizes]
        for task, n_task in zip(names, apportion(per_source[source], [float(b) for b in bounds], bounds),
                                strict=True):
            quotas.update(_within_task(tasks[source][task], n_task, recipe))
    return {c: n for c, n in quotas.items() if n > 0}


def _within_task(cells: dict[Cell, int], n: int, recipe: Recipe) -> dict[Cell, int]:
    """A task's rows over its settings by the split, then over plain and inverted rows within each setting."""
    settings = sorted({c.setting for c in cells})
    held = [sum(m for c, m in cells.items() if c.setting == s) for s in settings]
    split = [recipe.settings.get(s, 0.0) if recipe.settings is not None else float(h)
             for s, h in zip(settings, held, strict=True)]
    # Small tasks round their split to whole rows; starting the rounding at a different setting per task keeps
    # those leftovers from all landing on the same setting.
    rotate = zlib.crc32(next(iter(cells)).task.encode())
    out = {}
    for setting, n_setting in zip(settings, apportion(n, split, held, rotate), strict=True):
        group = sorted(c for c in cells if c.setting == setting)
        weights = [cells[c] * (recipe.inverted_weight if c.inverted else 1.0) for c in group]
        out.update(zip(group, apportion(n_setting, weights, [cells[c] for c in group]), strict=True))
    return out


def report(realised: dict[Cell, int], counts: dict[Cell, int], recipe: Recipe) -> dict[str, Any]:
    """What the manifest states: rows by source (with its share and weight), by task, by template type."""
    total = sum(realised.values()) or 1
    by_source: dict[str, int] = defaultdict(int)
    by_task: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_type: dict[str, int] = defaultdict(int)
    by_source_type: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    inverted = 0
    for cell, n in realised.items():
        by_source[cell.source] += n
        by_task[cell.source][cell.task] += n
        by_type[cell.setting] += n
        by_source_type[cell.source][cell.setting] += n
        inverted += n if cell.inverted else 0
    available: dict[str, int] = defaultdict(int)
    for cell, n in counts.items():
        available[cell.source] += n
    return {
        "rows": sum(realised.values()),
        "by_source": {s: {"rows": by_source.get(s, 0), "share": round(by_source.get(s, 0) / total, 6),
                          "weight": recipe.weights.get(s, 0.0)} for s in sorted(set(by_source) | set(recipe.weights))},
        "by_task": {s: dict(sorted(t.items())) for s, t in sorted(by_task.items())},
        "by_template_type": dict(sorted(by_type.items())),
        "by_source_template_type": {s: dict(sorted(t.items())) for s, t in sorted(by_source_type.items())},
        "inverted": {"rows": inverted, "share": round(inverted / total, 6)},
        "available": dict(sorted(available.items())),
        "ignored_sources": {s: n for s, n in sorted(available.items()) if recipe.weights.get(s, 0) <= 0},
    }
