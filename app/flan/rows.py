"""One rendered row: a record through a template in a prompt setting (zero/few-shot, with/without options).

Every random choice (options header and bullets, the exemplars, `choice` in templates) comes from a generator
seeded by the row's identity and the job's seed, never by order or timing: the same seed renders the same bytes.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from app.flan.fewshot import prune, query_text
from app.flan.options import is_few_shot, is_opt, options_text, pick_style
from app.flan.tokens import TokenCounter
from app.prompts.compiled import CompiledTemplate, apply
from app.prompts.sandbox import RenderError

# Which prompt settings each template type renders in.
TYPE_SETTINGS = {
    "zero-shot": ("zs-opt", "zs-noopt"),
    "few-shot": ("fs-opt", "fs-noopt"),
    "cot": ("zs-opt", "zs-noopt", "fs-opt", "fs-noopt"),
    "inverted": ("zs-opt", "zs-noopt"),
}


@dataclass
class RenderedRow:
    instruction: str
    target: str
    exemplars: int = 0
    tokens: int | None = None


@dataclass
class RowContext:
    """What every row of a job shares."""

    dataset_id: int
    seed: int
    k: int
    budget: int
    counter: TokenCounter
    pool: list[tuple[int, dict[str, Any]]]  # (position, record) exemplars are drawn from
    # Tokens per character of the task's text, measured once on the pool (sizes exemplars before the exact count).
    per_char: float | None = None


def measure_per_char(counter: TokenCounter, pool: list[tuple[int, dict[str, Any]]], sample: int = 50) -> float | None:
    """The counter's tokens per character over the first records of the pool: a fixed figure per job, so every
    row's pruning depends on the row alone."""
    texts = [" ".join(str(v) for v in record.values()) for _, record in pool[:sample]]
    chars = sum(len(t) for t in texts)
    return sum(counter.count_many(texts)) / chars if chars else None


def row_rng(ctx: RowContext, position: int, tpl: CompiledTemplate, setting: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: stable across processes and Python runs.
    return random.Random(f"{ctx.seed}:{ctx.dataset_id}:{position}:{tpl.ref}:{setting}")


def _int_seed(rng: random.Random) -> int:
    return rng.getrandbits(32)


def _with_options(tpl: CompiledTemplate, record: dict[str, Any], *, opt: bool, header: str, style: str,
                  seed: int) -> tuple[str, str]:
    def options(choices: list[str] | None) -> str:
        return options_text(choices, header, style) if opt else ""

    source, target, choices = apply(tpl, record, seed=seed, options=options)
    # A template that neither places the options itself nor lists the choices in its text gets them appended.
    if opt and choices and not tpl.uses_options and not tpl.choices_in_prompt:
        source = f"{source}\n\n{options(choices)}"
    return source, target


def render_row(tpl: CompiledTemplate, record: dict[str, Any], position: int, setting: str,
               ctx: RowContext) -> RenderedRow:
    """Render one row; raises RenderError saying why it cannot be rendered."""
    rng = row_rng(ctx, position, tpl, setting)
    header, style = pick_style(rng)
    seed = _int_seed(rng)
    opt = is_opt(setting)
    source, target = _with_options(tpl, record, opt=opt, header=header, style=style, seed=seed)
    if not is_few_shot(setting) or ctx.k == 0:
        return RenderedRow(source, target)
    others = [entry for entry in ctx.pool if entry[0] != position]
    exemplars = []
    for pos, other in rng.sample(others, min(ctx.k, len(others))):
        try:
            exemplars.append(_with_options(tpl, other, opt=opt, header=header, style=style, seed=seed ^ pos))
        except RenderError:
            continue  # a record this template cannot render is no exemplar; the row still gets the others
    if not exemplars:
        raise RenderError("no_exemplars", "no other record of the task renders with this template, so there is "
                                          "nothing to put before the query")
    pruned = prune(tpl.few_shot, exemplars, source, ctx.budget, ctx.counter.count, ctx.per_char)
    if pruned is None:
        alone = ctx.counter.count(query_text(tpl.few_shot, source))
        raise RenderError("exemplars_over_budget", f"not even one exemplar fits in the {ctx.budget}-token budget "
                                                   f"(the query alone has {alone} tokens)")
    return RenderedRow(pruned.text, target, pruned.used, pruned.tokens)


def content_digest(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]
