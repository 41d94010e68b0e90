"""Backend names to client configurations; `run-<id>` names a succeeded tuning run without a row of its own."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.backends.config import BackendConfig
from app.core.errors import NotFound
from app.models import Backend, BackendKind, RunState, TuningRun

RUN_NAME = re.compile(r"^run-(\d+)$")


def run_id_of(name: str) -> int | None:
    match = RUN_NAME.match(name)
    return int(match.group(1)) if match else None


def backend_config(session: Session, name: str) -> BackendConfig:
    """The configuration jobs use for `name`; NotFound names what is missing."""
    row = session.scalar(select(Backend).where(Backend.name == name))
    if row is not None:
        return BackendConfig.from_row(row)
    run_id = run_id_of(name)
    if run_id is not None:
        run = session.get(TuningRun, run_id)
        if run is None or run.state != RunState.succeeded:
            state = "does not exist" if run is None else f"is {run.state.value}, not succeeded"
            raise NotFound(f"Backend '{name}': tuning run {run_id} {state}.")
        return BackendConfig(name=name, kind=BackendKind.local, base_url="", model=name)
    raise NotFound(f"Backend '{name}' does not exist. Add it under Backends, or name a succeeded run as run-<id>.")
