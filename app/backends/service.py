"""Backends: add, list, read, change, delete (refused while a job uses one), and test (tiny real requests)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.backends.config import BackendConfig, Limits
from app.backends.probe import probe
from app.backends.resolve import run_id_of
from app.backends.schemas import BackendCreate, BackendOut, BackendTestResult, BackendUpdate, LimitsIn, LimitsOut
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.jobs.service import jobs_using_backend
from app.models import Backend, BackendKind, RunState, TuningRun, User
from app.models.base import utcnow

log = logging.getLogger("tuneloop.backends")


def get_backend(session: Session, name: str) -> Backend:
    row = session.scalar(select(Backend).where(Backend.name == name))
    if row is None:
        raise NotFound(f"Backend '{name}' does not exist.")
    return row


def list_backends(session: Session) -> list[Backend]:
    return list(session.scalars(select(Backend).order_by(Backend.name)))


def _merged_limits(current: dict[str, Any], update: LimitsIn | None) -> dict[str, Any]:
    """Stored limits with the fields the request set; an explicit null puts a field back to its default."""
    merged = dict(current or {})
    if update is not None:
        for key, value in update.model_dump(exclude_unset=True).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
    return merged


def _check_local_model(session: Session, kind: str, model: str) -> None:
    """A local backend naming a tuning run needs a run that exists and has succeeded."""
    run_id = run_id_of(model)
    if kind != BackendKind.local or run_id is None:
        return
    run = session.get(TuningRun, run_id)
    if run is None or run.state != RunState.succeeded:
        state = "does not exist" if run is None else f"is {run.state.value}, not succeeded"
        message = f"Model {model}: tuning run {run_id} {state}."
        raise ValidationFailed(message, details=[{"field": "model", "message": message}])


def create_backend(session: Session, *, data: BackendCreate, by: User | None) -> Backend:
    if session.scalar(select(Backend.id).where(Backend.name == data.name)) is not None:
        raise Conflict(f"A backend named '{data.name}' exists already.",
                       details=[{"field": "name", "message": "already taken"}])
    _check_local_model(session, data.kind, data.model)
    row = Backend(name=data.name, kind=BackendKind(data.kind), base_url=data.base_url, model=data.model,
                  adapter=data.adapter, api_key_env=data.api_key_env, limits=_merged_limits({}, data.limits),
                  last_test={}, created_by_id=by.id if by else None)
    session.add(row)
    session.flush()
    log.info("backend %s added (%s, model %s)", row.name, row.kind.value, row.model)
    return row


def update_backend(session: Session, *, name: str, data: BackendUpdate) -> Backend:
    row = get_backend(session, name)
    changes = {key: "" if value is None else value
               for key, value in data.model_dump(exclude_unset=True, exclude={"limits"}).items()}
    if not changes.get("model", row.model):
        changes.pop("model", None)  # a model cannot be blanked, only changed
    if row.kind == BackendKind.openai and changes.get("base_url", row.base_url) == "":
        raise ValidationFailed("Base URL is required for an openai backend.",
                               details=[{"field": "base_url", "message": "required for an openai backend"}])
    if row.kind == BackendKind.local and changes.get("base_url"):
        raise ValidationFailed("Base URL is for openai backends; a local backend is served by Tuneloop's model "
                               "server.", details=[{"field": "base_url", "message": "only for openai backends"}])
    _check_local_model(session, row.kind, changes.get("model", row.model))
    for key, value in changes.items():
        setattr(row, key, value)
    if "limits" in data.model_fields_set:
        row.limits = _merged_limits(row.limits, data.limits)
    session.flush()
    log.info("backend %s changed (%s)", row.name, ", ".join(sorted(data.model_fields_set)) or "nothing")
    return row


def delete_backend(session: Session, *, name: str) -> None:
    """Delete a backend no active job uses; its stored answers stay (they are keyed by what was asked)."""
    row = get_backend(session, name)
    using = jobs_using_backend(session, name)
    if using:
        ids = ", ".join(str(i) for i in using)
        jobs = f"jobs {ids}" if len(using) > 1 else f"job {ids}"
        raise Conflict(f"Backend '{name}' is used by active {jobs}; cancel or wait for them to end, then delete "
                       "the backend.", details=[{"field": "jobs", "message": ids, "jobs": using}])
    session.delete(row)
    session.flush()
    log.info("backend %s deleted", name)


def probe_backend(session: Session, *, name: str) -> BackendTestResult:
    """Send the backend a few tiny requests, record what they showed on the row, and return it."""
    config = BackendConfig.from_row(get_backend(session, name))
    # The requests may take seconds: end the transaction first, so no database lock is held while they run.
    session.commit()
    result = asyncio.run(probe(config))
    result.tested_at = utcnow()
    row = get_backend(session, name)
    row.last_test = result.model_dump(mode="json")
    session.flush()
    log.info("backend %s tested: %s", name, "ok" if result.ok else "failed")
    return result


def limits_out(row: Backend) -> LimitsOut:
    limits = Limits.from_json(row.limits)
    return LimitsOut(max_concurrency=limits.max_concurrency, rpm=limits.rpm, tpm=limits.tpm,
                     timeout_s=limits.timeout_s, max_retries=limits.max_retries)


def backend_out(row: Backend) -> BackendOut:
    return BackendOut(name=row.name, kind=row.kind.value, base_url=row.base_url, model=row.model,
                      adapter=row.adapter, api_key_env=row.api_key_env, limits=limits_out(row),
                      last_test=BackendTestResult.model_validate(row.last_test) if row.last_test else None,
                      created_at=row.created_at, updated_at=row.updated_at)
