"""Serving fixtures: a lively tiny model, a lively tiny T5 and a LoRA adapter for each (once per session), the
engine in-process, and a real model server subprocess per test database."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, reset_app_caches
from tests.support.model_server import ModelServer


@pytest.fixture(scope="session")
def lively_model(tmp_path_factory) -> Path:
    """The tiny model with its weights drawn wider (std 0.1).

    init-tiny's own weights (std 0.02) make every greedy answer the same newline, so "greedy equals generate"
    would prove little; wider weights make each answer depend on its prompt."""
    import torch
    from transformers import AutoModelForCausalLM

    path = tmp_path_factory.mktemp("serving") / "tiny"
    proc = subprocess.run([sys.executable, "-m", "worker.training", "init-tiny", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = AutoModelForCausalLM.from_pretrained(path)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def lora_adapter(lively_model, tmp_path_factory) -> Path:
    """A LoRA adapter for the lively model with random (not zero) B matrices, so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(lively_model),
                           LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False))
    path = tmp_path_factory.mktemp("serving") / "adapter"
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def lively_t5(tmp_path_factory) -> Path:
    """A tiny T5 built by the user's command (`tuneloop model init-tiny --arch t5 DIR`), its weights drawn wider
    as the lively model's are, so that its answers depend on the prompt."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    path = tmp_path_factory.mktemp("serving") / "tiny-t5"
    proc = subprocess.run([sys.executable, "-m", "app.cli", "model", "init-tiny", str(path), "--arch", "t5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = AutoModelForSeq2SeqLM.from_pretrained(path)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def t5_adapter(lively_t5, tmp_path_factory) -> Path:
    """A LoRA adapter for the lively T5 with random (not zero) B matrices, so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSeq2SeqLM

    torch.manual_seed(1)
    model = get_peft_model(AutoModelForSeq2SeqLM.from_pretrained(lively_t5),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q", "v"], task_type="SEQ_2_SEQ_LM",
                                      init_lora_weights=False))
    path = tmp_path_factory.mktemp("serving") / "t5-adapter"
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def loaded(lively_model):
    """The lively model as the engine loads it (CPU, float32)."""
    from worker.serving.loading import ModelSource, load
    from worker.serving.settings import EngineSettings, resolve

    return load(ModelSource(str(lively_model)), resolve(EngineSettings()))


class Served:
    """The web app on the live database with the model server behind it, a token, and a local backend."""

    def __init__(self, client, headers: dict[str, str], backend: str, server: ModelServer) -> None:
        self.client, self.headers, self.backend, self.server = client, headers, backend, server

    def post(self, path: str, body: dict, headers: dict[str, str] | None = None):
        return self.client.post(path, json=body, headers=self.headers if headers is None else headers)


@contextmanager
def serving(server: ModelServer, model: Path, monkeypatch) -> Iterator[Served]:
    """The web app in front of `server` on the live database, a user's token, and a local backend for `model`."""
    from fastapi.testclient import TestClient

    from app.core.db import get_sessionmaker
    from app.main import create_app
    from app.models import Backend
    from app.users.service import create_token, create_user

    monkeypatch.setenv("TUNELOOP_MODEL_SERVER_URL", server.url)
    reset_app_caches()
    backend = f"tiny-{secrets.token_hex(3)}"
    with get_sessionmaker()() as session:
        user = create_user(session, email=f"user-{secrets.token_hex(3)}@example.com", password="correct horse battery",
                           role="annotator")
        token = create_token(session, user=user, name="serving").secret
        session.add(Backend(name=backend, kind="local", model=str(model)))
        session.commit()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield Served(client, {"Authorization": f"Bearer {token}"}, backend, server)


@pytest.fixture
def served(live, model_server, lively_model, monkeypatch):
    with serving(model_server, lively_model, monkeypatch) as result:
        yield result


@pytest.fixture
def lora_run(served, lively_model, lora_adapter):
    """A succeeded tuning run whose adapter artifact is the LoRA adapter, and a failed one."""
    from app.core.db import get_sessionmaker
    from app.models import RunState, TuningRun
    from tests.tuning.conftest import make_project, make_snapshot

    with get_sessionmaker()() as session:
        project = make_project(session)
        export = make_snapshot(session, project)
        runs = {}
        for state in (RunState.succeeded, RunState.failed):
            run = TuningRun(project_id=project.id, export_id=export.id, method="sft-lora", state=state,
                            base_model=str(lively_model),
                            artifacts=[{"name": "adapter", "path": str(lora_adapter), "size_bytes": 1}])
            session.add(run)
            session.flush()
            runs[state.value] = run.id
        session.commit()
    return runs
