"""docker-compose.yml and the Dockerfile, checked by reading: there is no Docker engine on these machines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer.main
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = {"migrate", "web", "worker", "worker-gpu", "model-server"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _cli_accepts(argv: list[str]) -> None:
    """Fail unless `tuneloop <argv>` names a real command and only options that command has."""
    from app.cli import cli

    command = typer.main.get_command(cli)
    words = list(argv)
    while words and hasattr(command, "commands"):
        name = words.pop(0)
        assert name in command.commands, f"`tuneloop {name}` is not a command; `tuneloop --help` lists them"
        command = command.commands[name]
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for word in words:
        if word.startswith("--"):
            assert word in known, f"`{word}` is not an option of `tuneloop {' '.join(argv[:1])}`: {sorted(known)}"
    ctx = command.make_context("tuneloop", list(words), resilient_parsing=False)
    assert ctx is not None


def test_every_service_is_there_with_the_right_command(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "vllm", *APP_SERVICES}
    assert services["vllm"]["profiles"] == ["gpu"]  # an outside server: only with the GPU profile
    assert services["model-server"]["command"][:2] == ["model", "serve"]
    assert services["migrate"]["command"] == ["migrate"]
    web = services["web"]["command"]
    assert web[:2] == ["serve", "--no-worker"] and web[web.index("--host") + 1] == "0.0.0.0"
    assert services["worker"]["command"] == ["worker", "--queues", "default"]
    gpu = services["worker-gpu"]["command"]
    assert gpu[gpu.index("--queues") + 1] == "training" and gpu[gpu.index("--concurrency") + 1] == "1"
    for name in APP_SERVICES:
        _cli_accepts(services[name]["command"])


def test_shared_environment_points_at_postgres_and_redis(compose):
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert env["TUNELOOP_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["TUNELOOP_DATABASE_URL"]
        assert env["TUNELOOP_BROKER_URL"] == "redis://redis:6379/0"
        # Never a default secret baked into the file: compose must refuse to start without one.
        assert re.fullmatch(r"\$\{TUNELOOP_SECRET_KEY:\?.+\}", env["TUNELOOP_SECRET_KEY"])
        assert env["TUNELOOP_DATA_DIR"] == "/data"
    assert set(compose["x-tuneloop-env"]) <= set(compose["services"]["web"]["environment"])


def test_data_volume_is_shared_by_web_and_workers(compose):
    for name in ("web", "worker", "worker-gpu"):
        assert "tuneloop-data:/data" in compose["services"][name]["volumes"], name
    assert {"postgres-data", "redis-data", "tuneloop-data"} <= set(compose["volumes"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in compose["services"]["postgres"]["volumes"])


def test_start_order_and_healthchecks(compose):
    services = compose["services"]
    assert services["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "worker-gpu"):
        deps = services[name]["depends_on"]
        assert deps["migrate"] == {"condition": "service_completed_successfully"}, name
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
    assert "/api/v1/health" in " ".join(services["web"]["healthcheck"]["test"])
    # Redis keeps queued jobs across a restart only with persistence on.
    assert "--appendonly" in services["redis"]["command"]
    assert services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1] == "yes"


def test_gpu_worker_reserves_a_gpu_and_builds_cuda_torch(compose):
    gpu = compose["services"]["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert gpu["build"]["args"]["TORCH_VARIANT"].startswith("${TUNELOOP_TORCH_VARIANT:-cu")
    assert compose["services"]["worker"]["build"]["args"]["TORCH_VARIANT"] == "cpu"
    assert "deploy" not in compose["services"]["worker"]


def _instruction(dockerfile: str, name: str) -> list[str]:
    lines = re.findall(rf"^{name}\s+(.+)$", dockerfile, flags=re.M)
    assert len(lines) >= 1, f"no {name} in the Dockerfile"
    return json.loads(lines[-1])


def test_dockerfile_runs_real_cli_commands_as_non_root(dockerfile):
    entry, cmd = _instruction(dockerfile, "ENTRYPOINT"), _instruction(dockerfile, "CMD")
    assert entry == ["tuneloop"]
    _cli_accepts(cmd)
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile, flags=re.M)
    assert stages[0][0].startswith("node:") and stages[-1][0] == "python:3.11-slim"
    final = dockerfile[dockerfile.rindex("\nFROM "):]
    assert re.search(r"^USER\s+(?!root\b|0\b)\S+", final, flags=re.M), "the app must not run as root"
    assert "COPY --from=frontend" in final and "app/static/vendor" in final
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", final, flags=re.M)
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in final
    assert re.search(r'pip install (-e )?"\.\[train\]"', final)
    health = re.search(r"^HEALTHCHECK .*\n\s+CMD (.+)$", final, flags=re.M)
    assert health and "/api/v1/health" in health.group(1)
    # Everything copied into the image exists in the repository.
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.M):
        for path in src.split():
            assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which does not exist"


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".env", "node_modules", "var", ".git"} <= ignored
