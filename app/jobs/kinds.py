"""Job kinds: what a method plugs into the engine. A kind plans items, says what to ask for each, and handles
each answer; the engine does the rest (sending, storing answers by request hash, counts, heartbeat, cancel,
resume, the page). A new kind needs no table, no reaper and no page beyond its own parameter form.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.core.errors import ValidationFailed
from app.models import JobItem, Project

if TYPE_CHECKING:
    from app.backends.requests import ModelRequest, ModelResponse
    from app.jobs.context import JobContext
    from app.jobs.outcome import Outcome

# Every kind's module; each registers its kind on import. Imported on first use, so the web starts fast.
KIND_MODULES = ["app.answer.kind", "app.grounded.kind", "app.grounded.evaluation", "app.self_instruct.kind",
                "app.evaluation.judge_kind", "app.evaluation.reference_kind", "app.evaluation.benchmark_kind",
                "app.evaluation.reward_kind", "app.curation.curate_kind", "app.curation.diversity_kind",
                "app.curation.score_kind", "app.curation.filter_kind", "app.flan.kind", "app.llava.kind"]


class JobKind(ABC):
    """The base of every kind. Subclasses set `name`, `title`, `Params` and implement `plan` and `handle`."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]]
    # A template (under templates/) with the kind's own result panel; None shows the result as a table.
    result_template: ClassVar[str | None] = None
    # Item stages in the order they happen, for the page's filter ("prompt", "candidate", ...).
    stages: ClassVar[tuple[str, ...]] = ("item",)
    # Whether some items that ask no backend do long local work (`work`); only such kinds pay for the thread.
    has_work: ClassVar[bool] = False

    def backends(self, params: Any) -> list[str]:
        """The backend names the job asks; each must exist when the job is created."""
        return [params.backend] if getattr(params, "backend", None) else []

    def validate(self, session: Session, project: Project, params: Any) -> None:
        """Refuse a job that cannot run (raise ValidationFailed naming the parameter), before it is queued."""
        return None

    @abstractmethod
    def plan(self, ctx: JobContext) -> None:
        """Add the job's first items (ctx.add_items); called once, before any item is sent."""

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest | None:
        """What to ask a backend for this pending item, or None when the item needs no model."""
        return None

    def work(self, params: Any, item: JobItem) -> dict[str, Any] | None:
        """Long local work for an item that asks no backend (a harness run), done in a thread outside any
        transaction, so the heartbeat and other writers never wait for it. None: the item has none. Its result
        reaches `handle` as ctx.batch["work"][item.id]; an AppError it raises fails the item with its message."""
        return None

    def prepare(self, ctx: JobContext, items: list[JobItem]) -> None:
        """Before a batch is handled: load what its items need in a few queries (into ctx.batch), so `handle`
        need not ask the database once per item."""
        return None

    @abstractmethod
    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        """Turn the answer into records; may add follow-up items. Runs in the batch's transaction."""

    def advance(self, ctx: JobContext) -> int:
        """Called when no item is pending: add the next round's items and return how many (0 ends the job)."""
        return 0

    def finish(self, ctx: JobContext) -> None:
        """Called once when the job ends well: fill ctx.job.result."""
        return None

    def result_context(self, session: Session, job: Any) -> dict[str, Any]:
        """What the result panel shows beyond job.result, computed when the page is drawn (figures that move
        after the job ended, such as a judge's agreement with annotators who are still at work)."""
        return {}

    def progress(self, job: Any) -> tuple[int, int]:
        """(done, total) for the progress bar; by default every item that is no longer pending."""
        return job.items_total - job.items_pending, job.items_total

    def summary(self, item: Any) -> tuple[str, str]:
        """(what was asked, what it made) in a few words, for the items table."""
        data, out = item.input or {}, item.output or {}
        messages = data.get("messages")
        asked = messages[-1].get("content", "") if messages else data.get("prompt") or data.get("text") or \
            data.get("instruction") or ""
        made = out.get("text") or out.get("instruction") or ""
        return str(asked), str(made) if made else ("" if not out else ", ".join(f"{k}: {v}" for k, v in out.items()))


_KINDS: dict[str, JobKind] = {}


def register(kind: type[JobKind]) -> type[JobKind]:
    """Class decorator: make a kind available by its name."""
    _KINDS[kind.name] = kind()
    return kind


def _load() -> None:
    if len(_KINDS) < len(KIND_MODULES):
        for module in KIND_MODULES:
            importlib.import_module(module)


def get_kind(name: str) -> JobKind:
    _load()
    kind = _KINDS.get(name)
    if kind is None:
        raise ValidationFailed(f"Unknown job kind '{name}'. Kinds: {', '.join(sorted(_KINDS))}.",
                               details=[{"field": "kind", "message": f"one of {', '.join(sorted(_KINDS))}"}])
    return kind


def all_kinds() -> list[JobKind]:
    _load()
    return [_KINDS[name] for name in sorted(_KINDS)]
