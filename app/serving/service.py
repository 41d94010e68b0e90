"""Which models Tuneloop serves and what weights each name means: local backends by name, succeeded runs as run-<id>.

The web app uses this to list models and to refuse an unknown one before anything is forwarded; the model server
uses `weights_for` to know what to load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.models import Backend, BackendKind, RunState, TuningRun, User
from app.serving.errors import OpenAIError
from app.users.service import user_for_token

RUN_PREFIX = "run-"


@dataclass(frozen=True)
class Weights:
    """What a served name loads: a model directory (or hub id) and, optionally, a LoRA adapter on top."""

    model: str
    adapter: str | None = None


def _not_found(name: str, why: str) -> OpenAIError:
    return OpenAIError(404, f"The model '{name}' does not exist: {why}", param="model", code="model_not_found")


def _local_path(path: str) -> str:
    """A relative model path as the admin meant it: under the data directory when it is there."""
    if not path or Path(path).is_absolute():
        return path
    under_data = get_settings().data_dir / path
    return str(under_data) if under_data.exists() else path


def run_weights(run: TuningRun) -> Weights | None:
    """A succeeded run's weights: its base model with its adapter, or its merged weights; None when it kept neither."""
    adapter, merged = run.artifact("adapter"), run.artifact("merged")
    if adapter:
        return Weights(model=_local_path(run.base_model), adapter=adapter["path"])
    if merged:
        return Weights(model=merged["path"])
    return None


def _run_id(name: str) -> int | None:
    number = name.removeprefix(RUN_PREFIX)
    return int(number) if name.startswith(RUN_PREFIX) and number.isdigit() and len(number) < 19 else None


def _weights_of_run(session: Session, name: str, run_id: int) -> Weights:
    run = session.get(TuningRun, run_id)
    if run is None:
        raise _not_found(name, f"there is no tuning run {run_id}.")
    if run.state != RunState.succeeded:
        raise _not_found(name, f"tuning run {run_id} is {run.state.value}; only succeeded runs are served.")
    weights = run_weights(run)
    if weights is None:
        raise _not_found(name, f"tuning run {run_id} saved no adapter or merged weights.")
    return weights


def weights_for(session: Session, name: str) -> Weights:
    """The weights behind a served name; a 404 (OpenAIError) saying why when there are none."""
    backend = session.scalar(select(Backend).where(Backend.name == name))
    if backend is not None:
        if backend.kind != BackendKind.local:
            raise _not_found(name, "it is an OpenAI-compatible backend; call its server directly.")
        run_id = _run_id(backend.model)
        if run_id is not None:
            weights = _weights_of_run(session, name, run_id)
            return Weights(weights.model, backend.adapter or weights.adapter) if backend.adapter else weights
        return Weights(model=_local_path(backend.model), adapter=backend.adapter or None)
    run_id = _run_id(name)
    if run_id is not None:
        return _weights_of_run(session, name, run_id)
    raise _not_found(name, "name a local backend or a succeeded tuning run as run-<id> (GET /v1/models lists them).")


def list_models(session: Session) -> list[dict]:
    """Every local backend by name and every succeeded run with weights as run-<id>, in OpenAI's model shape."""
    models = [{"id": b.name, "object": "model", "created": int(b.created_at.timestamp()), "owned_by": "tuneloop"}
              for b in session.scalars(select(Backend).where(Backend.kind == BackendKind.local)
                                       .order_by(Backend.name))]
    for run in session.scalars(select(TuningRun).where(TuningRun.state == RunState.succeeded)
                               .order_by(TuningRun.id)):
        if run_weights(run) is not None:
            models.append({"id": f"{RUN_PREFIX}{run.id}", "object": "model", "owned_by": "tuneloop",
                           "created": int((run.finished_at or run.created_at).timestamp())})
    return models


def token_user(session: Session, authorization: str) -> User:
    """The user behind 'Bearer <token>'; a 401 (OpenAIError) otherwise."""
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise OpenAIError(401, "Send a Tuneloop API token as 'Authorization: Bearer <token>' "
                          "(`tuneloop token create` makes one).", code="invalid_api_key")
    user = user_for_token(session, secret.strip())
    if user is None:
        raise OpenAIError(401, "The API token is invalid or revoked.", code="invalid_api_key")
    return user
