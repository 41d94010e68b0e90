"""What a kind sees while its job runs: the session, the job and its parsed parameters, and ways to add items
and events. Counters move in the same transaction as the items they count."""

from __future__ import annotations

from collections import Counter
from functools import cache, cached_property
from typing import Any

from sqlalchemy import insert, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from app.jobs.outcome import Outcome
from app.models import ItemStatus, Job, JobEvent, JobItem, Project
from app.models.base import utcnow


class JobContext:
    def __init__(self, session: Session, job: Job, params: Any) -> None:
        self.session = session
        self.job = job
        self.params = params
        self.batch: dict[str, Any] = {}  # what the kind's `prepare` loaded for the batch being handled
        self._rows: list[tuple[type, dict[str, Any]]] = []  # this item's deferred inserts
        self._batch_rows: list[tuple[type, dict[str, Any]]] = []  # the batch's, kept when an item succeeds

    @cached_property
    def project(self) -> Project:
        return self.session.get(Project, self.job.project_id)

    @property
    def state(self) -> dict[str, Any]:
        """The kind's own state; call `save_state()` after changing it."""
        if self.job.state is None:
            self.job.state = {}
        return self.job.state

    def save_state(self) -> None:
        flag_modified(self.job, "state")

    def add_items(self, stage: str, inputs: list[dict[str, Any]], *, parent_id: int | None = None,
                  outcomes: list[Outcome] | None = None) -> int:
        """Add many items at once (pending, or already decided when `outcomes` is given); returns how many."""
        if not inputs:
            return 0
        now = utcnow()
        rows = []
        for index, data in enumerate(inputs):
            outcome = outcomes[index] if outcomes else None
            rows.append({"job_id": self.job.id, "parent_id": parent_id, "stage": stage, "input": data,
                         "status": outcome.status if outcome else ItemStatus.pending,
                         "reason": outcome.reason if outcome else None, "error": outcome.error if outcome else None,
                         "output": outcome.output if outcome else {}, "attempts": 0, "created_at": now,
                         "updated_at": now})
        self.session.execute(insert(JobItem), rows)
        self.job.items_total += len(rows)
        if outcomes:
            self.count([o for o in outcomes])
        return len(rows)

    def add_item(self, stage: str, data: dict[str, Any], *, parent_id: int | None = None,
                 outcome: Outcome | None = None) -> JobItem:
        """Add one item and return it with its id (for items that others will point at)."""
        item = JobItem(job_id=self.job.id, parent_id=parent_id, stage=stage, input=data,
                       status=outcome.status if outcome else ItemStatus.pending,
                       reason=outcome.reason if outcome else None, error=outcome.error if outcome else None,
                       output=outcome.output if outcome else {})
        self.session.add(item)
        self.session.flush()
        self.job.items_total += 1
        if outcome:
            self.count([outcome])
        return item

    def insert_later(self, model: type, row: dict[str, Any]) -> None:
        """Insert `row` into `model`'s table with the rest of the batch, in one statement per table: the way
        to write many small records (candidates) without a round trip each. Dropped if the item fails."""
        self._rows.append((model, row))

    def keep_item_rows(self, keep: bool) -> None:
        if keep:
            self._batch_rows.extend(self._rows)
        self._rows = []

    def write_deferred(self) -> None:
        by_model: dict[type, list[dict[str, Any]]] = {}
        for model, row in self._batch_rows:
            by_model.setdefault(model, []).append(row)
        for model, rows in by_model.items():
            # On the table, not the mapped class: a plain executemany, without the ORM's bulk bookkeeping. Rows are
            # written with attribute names (`meta`), so they are renamed to the columns' (`metadata`).
            names = _column_names(model)
            self.session.execute(insert(model.__table__), [{names.get(k, k): v for k, v in row.items()}
                                                           for row in rows])
        self._batch_rows = []

    def count(self, outcomes: list[Outcome], *, undo: bool = False) -> None:
        """Move the job's counters for items that reached (or, with undo, left) these outcomes."""
        sign = -1 if undo else 1
        statuses = Counter(o.status for o in outcomes)
        self.job.items_done += sign * statuses[ItemStatus.done]
        self.job.items_rejected += sign * statuses[ItemStatus.rejected]
        self.job.items_failed += sign * statuses[ItemStatus.failed]
        reasons = Counter(o.reason for o in outcomes if o.status == ItemStatus.rejected and o.reason)
        if reasons:
            merged = Counter(self.job.reasons or {})
            for code, n in reasons.items():
                merged[code] += sign * n
            self.job.reasons = {code: n for code, n in sorted(merged.items()) if n > 0}

    def event(self, kind: str, message: str = "", **data: Any) -> None:
        add_event(self.session, self.job.id, kind, message, **data)


@cache
def _column_names(model: type) -> dict[str, str]:
    """Attribute name → column name, where they differ."""
    return {attr.key: attr.columns[0].key for attr in inspect(model).column_attrs
            if attr.key != attr.columns[0].key}


def add_event(session: Session, job_id: int, kind: str, message: str = "", **data: Any) -> None:
    """Append to a job's log; the sequence number is taken atomically, so the web and the worker can both write."""
    seq = session.execute(update(Job).where(Job.id == job_id).values(event_seq=Job.event_seq + 1)
                          .returning(Job.event_seq).execution_options(synchronize_session=False)).scalar_one()
    session.add(JobEvent(job_id=job_id, seq=seq, kind=kind, message=message[:2000], data=data))
