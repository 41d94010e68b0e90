"""The render-templates kind: a source dataset through chosen templates in zero/few-shot, Opt/NoOpt settings.

One item per (record, template, setting). Rendering needs no model (request() is None), so the engine hands
each item straight to handle(), which renders the row; the row becomes an instruction with a `reference`
candidate, written with the rest of its batch in the batch's transaction (ids drawn beforehand, so no row
costs a round trip). A row that cannot be rendered is rejected with a reason code and a message naming the
template and the record; nothing of it is stored.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.errors import NotFound, ValidationFailed
from app.datasets.service import get_dataset, records_at
from app.flan import tokens
from app.flan.rows import TYPE_SETTINGS, RowContext, measure_per_char, render_row
from app.flan.schemas import RenderParams
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import (
    Candidate,
    CandidateOrigin,
    Construction,
    Instruction,
    InstructionStatus,
    JobItem,
    Project,
    PromptTemplate,
    PromptTemplateVersion,
    SourceDataset,
    SourceRecord,
    Split,
)
from app.models.base import utcnow
from app.prompts.compiled import CompiledTemplate
from app.prompts.sandbox import RenderError
from app.prompts.service import compiled, current_versions

PLAN_CHUNK = 2000


def _templates(session: Session, dataset: SourceDataset, ids: list[int] | None
               ) -> list[tuple[PromptTemplate, PromptTemplateVersion]]:
    pairs = current_versions(session, dataset.project_id, task=None if ids else dataset.task, ids=ids)
    if ids:
        found = {t.id for t, _ in pairs}
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationFailed(f"No template {', '.join(map(str, missing))} in this project.",
                                   details=[{"field": "params.templates", "message": f"unknown ids {missing}"}])
        other = [t for t, _ in pairs if t.task != dataset.task]
        if other:
            raise ValidationFailed(
                f"Template '{other[0].name}' is for task '{other[0].task}', but dataset '{dataset.name}' is task "
                f"'{dataset.task}'.", details=[{"field": "params.templates", "message": "a template of another task"}])
    return pairs


def _combos(pairs: list[tuple[PromptTemplate, PromptTemplateVersion]], settings: list[str]
            ) -> list[tuple[int, int, str]]:
    """(template id, version, setting) for every chosen setting the template's type renders in."""
    return [(t.id, v.version, s) for t, v in pairs for s in settings if s in TYPE_SETTINGS.get(v.type, ())]


@dataclass
class _Cache:
    """What a running job's handle() reuses across batches: compiled templates, the exemplar pool, the counter."""

    dataset: SourceDataset
    templates: dict[tuple[int, int], CompiledTemplate]
    row_ctx: RowContext


def _new_instruction_ids(session: Session, n: int) -> list[int]:
    """n fresh instruction ids: from the sequence on PostgreSQL; on SQLite past the largest, which is safe because
    the batch's transaction holds the database's write lock (BEGIN IMMEDIATE) until it commits."""
    if n == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(text("SELECT nextval(pg_get_serial_sequence('instructions', 'id')) "
                                         "FROM generate_series(1, :n)"), {"n": n}))
    start = (session.scalar(select(func.max(Instruction.id))) or 0) + 1
    return list(range(start, start + n))


def exemplar_positions(rows: int, pool: int, seed: int, dataset_id: int) -> list[int]:
    if rows <= pool:
        return list(range(rows))
    return sorted(random.Random(f"pool:{seed}:{dataset_id}").sample(range(rows), pool))


@register
class RenderTemplatesKind(JobKind):
    name = "render-templates"
    title = "Render templates"
    description = ("Turn a source dataset into instructions through its task's templates, in zero- and few-shot "
                   "settings with and without options; each row gets a reference candidate to review.")
    Params = RenderParams
    result_template = "flan/_render_result.html"
    stages = ("row",)

    def __init__(self) -> None:
        self._caches: OrderedDict[int, _Cache] = OrderedDict()
        self._lock = threading.Lock()

    def backends(self, params: Any) -> list[str]:
        return []

    def validate(self, session: Session, project: Project, params: RenderParams) -> None:
        try:
            dataset = get_dataset(session, project, params.dataset)
        except NotFound as exc:
            raise ValidationFailed(exc.message, details=[{"field": "params.dataset", "message": exc.message}]) from exc
        pairs = _templates(session, dataset, params.templates)
        if not pairs:
            raise ValidationFailed(f"Task '{dataset.task}' has no templates yet; write or import some first.",
                                   details=[{"field": "params.templates", "message": "no templates"}])
        if not _combos(pairs, params.settings):
            kinds = sorted({v.type for _, v in pairs})
            raise ValidationFailed(
                f"None of the settings {', '.join(params.settings)} applies to the chosen templates (types: "
                f"{', '.join(kinds)}); few-shot settings need few-shot or cot templates, zero-shot settings "
                "zero-shot, cot or inverted ones.",
                details=[{"field": "params.settings", "message": "no template fits"}])
        tokens.resolve(params.tokenizer)

    def _digest(self, params: RenderParams, counter: str) -> str:
        raw = orjson.dumps([params.seed, params.k, params.token_budget, counter, params.exemplar_pool])
        return hashlib.sha256(raw).hexdigest()[:10]

    def plan(self, ctx: JobContext) -> None:
        params: RenderParams = ctx.params
        dataset = get_dataset(ctx.session, ctx.project, params.dataset)
        pairs = _templates(ctx.session, dataset, params.templates)
        combos = _combos(pairs, params.settings)
        counter = tokens.resolve(params.tokenizer)
        ctx.state.update(dataset_id=dataset.id, templates=[[t.id, v.version] for t, v in pairs],
                         tokenizer=counter.description, digest=self._digest(params, counter.description))
        ctx.save_state()
        positions = ctx.session.scalars(select(SourceRecord.position).where(SourceRecord.dataset_id == dataset.id)
                                        .order_by(SourceRecord.position).limit(params.limit)).yield_per(PLAN_CHUNK)
        chunk: list[dict[str, Any]] = []
        for position in positions:
            chunk += [{"p": position, "t": t, "v": v, "s": s} for t, v, s in combos]
            if len(chunk) >= PLAN_CHUNK:
                self._add(ctx, chunk)
                chunk = []
        self._add(ctx, chunk)

    def _add(self, ctx: JobContext, chunk: list[dict[str, Any]]) -> None:
        """Add a chunk of items; rows this project already has (same record, template version, setting and
        options) are recorded as rejected 'already_rendered' instead of being rendered twice."""
        if not chunk:
            return
        ids = [self._external_id(ctx, item) for item in chunk]
        have = set(ctx.session.scalars(select(Instruction.external_id).where(
            Instruction.project_id == ctx.job.project_id, Instruction.external_id.in_(ids))))
        fresh = [item for item, eid in zip(chunk, ids, strict=True) if eid not in have]
        ctx.add_items("row", fresh)
        old = [item for item, eid in zip(chunk, ids, strict=True) if eid in have]
        if old:
            ctx.add_items("row", old, outcomes=[Outcome.rejected("already_rendered")] * len(old))

    @staticmethod
    def _external_id(ctx: JobContext, item: dict[str, Any]) -> str:
        return f"tpl:{ctx.state['dataset_id']}:{item['p']}:{item['t']}@{item['v']}:{item['s']}:{ctx.state['digest']}"

    def _cache(self, ctx: JobContext) -> _Cache:
        with self._lock:
            cache = self._caches.get(ctx.job.id)
            if cache is not None:
                self._caches.move_to_end(ctx.job.id)
                return cache
        params: RenderParams = ctx.params
        dataset = ctx.session.get(SourceDataset, ctx.state["dataset_id"])
        wanted = {(t, v) for t, v in ctx.state["templates"]}
        pairs = ctx.session.execute(select(PromptTemplate, PromptTemplateVersion).join(
            PromptTemplateVersion, PromptTemplateVersion.template_id == PromptTemplate.id).where(
            PromptTemplate.id.in_({t for t, _ in wanted}))).tuples()
        templates = {}
        for t, v in pairs:
            if (t.id, v.version) in wanted:
                try:
                    templates[(t.id, v.version)] = compiled(t, v)
                except RenderError:
                    continue  # each of its rows is rejected with the reason
        positions = exemplar_positions(dataset.rows, params.exemplar_pool, params.seed, dataset.id)
        found = records_at(ctx.session, dataset.id, positions)
        pool = [(p, found[p]) for p in positions if p in found]
        counter = tokens.resolve(params.tokenizer)
        row_ctx = RowContext(dataset.id, params.seed, params.k, params.token_budget, counter, pool,
                             measure_per_char(counter, pool))
        ctx.session.expunge(dataset)
        cache = _Cache(dataset, templates, row_ctx)
        with self._lock:
            self._caches[ctx.job.id] = cache
            while len(self._caches) > 4:
                self._caches.popitem(last=False)
        return cache

    def prepare(self, ctx: JobContext, items: list[JobItem]) -> None:
        """The batch's records in one query (items of one record come together, so a batch reads few), and ids
        for the instructions it may make, so every row is written with the batch, not one round trip each."""
        cache = self._cache(ctx)
        positions = sorted({item.input["p"] for item in items})
        ctx.batch["records"] = records_at(ctx.session, cache.dataset.id, positions)
        ctx.batch["ids"] = iter(_new_instruction_ids(ctx.session, len(items)))

    def handle(self, ctx: JobContext, item: JobItem, response: Any) -> Outcome:
        data = item.input
        cache = self._cache(ctx)
        tpl = cache.templates.get((data["t"], data["v"]))
        where = f"record {data['p']} of '{cache.dataset.name}', template {data['t']}@{data['v']} ({data['s']})"
        if tpl is None:
            return Outcome.rejected("template_error", {"message": f"{where}: the template does not compile"})
        where = f"record {data['p']} of '{cache.dataset.name}', template '{tpl.name}' v{tpl.version} ({data['s']})"
        record = ctx.batch["records"].get(data["p"])
        if record is None:
            return Outcome.rejected("record_missing", {"message": f"{where}: the record is gone"})
        try:
            row = render_row(tpl, record, data["p"], data["s"], cache.row_ctx)
        except RenderError as exc:
            return Outcome.rejected(exc.code, {"message": f"{where}: {exc.message}", "template": tpl.ref,
                                               "record": data["p"]})
        instruction_id = self._store(ctx, cache, tpl, data, row)
        return Outcome.done({"instruction_id": instruction_id, "exemplars": row.exemplars})

    def _store(self, ctx: JobContext, cache: _Cache, tpl: CompiledTemplate, data: dict[str, Any], row: Any) -> int:
        dataset = cache.dataset
        meta = {"_task_name": dataset.task, "_task_source": dataset.source, "_template_idx": tpl.idx,
                "_template_type": data["s"], "_template_kind": tpl.type, "template_id": tpl.template_id,
                "template_version": tpl.version, "template_name": tpl.name, "dataset": dataset.name,
                "record": data["p"], "exemplars": row.exemplars, "seed": ctx.params.seed}
        digest = hashlib.sha256(orjson.dumps([row.instruction, row.target, meta], option=orjson.OPT_SORT_KEYS))
        now = utcnow()
        instruction_id = next(ctx.batch["ids"])
        # Both rows go in with the batch's others, one statement per table (instructions first).
        ctx.insert_later(Instruction, {
            "id": instruction_id, "project_id": ctx.job.project_id, "external_id": self._external_id(ctx, data),
            "instruction": row.instruction, "input": "", "system": "", "history": [], "split": Split.train,
            "source": dataset.source[:200], "meta": meta, "status": InstructionStatus.pending,
            "content_hash": digest.hexdigest(), "submitted_count": 0, "reserved_count": 0, "reserved_until": None,
            "construction": Construction.template, "job_id": ctx.job.id, "backend": "", "model": "",
            "created_at": now, "updated_at": now})
        ctx.insert_later(Candidate, {"instruction_id": instruction_id, "text": row.target, "model": "", "score": None,
                                     "origin": CandidateOrigin.reference, "run_id": None,
                                     "construction": Construction.template, "job_id": ctx.job.id, "backend": "",
                                     "meta": {"template": tpl.ref}, "created_at": now})
        return instruction_id

    def summary(self, item: JobItem) -> tuple[str, str]:
        data, out = item.input or {}, item.output or {}
        asked = f"record {data.get('p')}, template {data.get('t')}@{data.get('v')}, {data.get('s')}"
        if "instruction_id" in out:
            n = out.get("exemplars", 0)
            return asked, f"instruction {out['instruction_id']}" + (f" ({n} exemplars)" if n else "")
        return asked, str(out.get("message", ""))

    def finish(self, ctx: JobContext) -> None:
        setting = Instruction.meta["_template_type"].as_string()
        by_setting = dict(ctx.session.execute(select(setting, func.count()).where(Instruction.job_id == ctx.job.id)
                                              .group_by(setting)).tuples().all())
        name = Instruction.meta["template_name"].as_string()
        by_template = dict(ctx.session.execute(select(name, func.count()).where(Instruction.job_id == ctx.job.id)
                                               .group_by(name)).tuples().all())
        ctx.job.result = {"rows_added": sum(by_setting.values()), "by_setting": by_setting,
                          "by_template": by_template, "tokenizer": ctx.state.get("tokenizer"),
                          "dataset": ctx.params.dataset, "seed": ctx.params.seed,
                          "token_budget": ctx.params.token_budget, "k": ctx.params.k}
        with self._lock:
            self._caches.pop(ctx.job.id, None)
