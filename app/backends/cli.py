"""`tuneloop backend add|list|test|delete`: the same service as the API and the page."""

from __future__ import annotations

from typing import Annotated

import typer

backend_cli = typer.Typer(help="Model backends that jobs ask for text (OpenAI-compatible servers, local models).",
                          no_args_is_help=True)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


def _session():
    from app.core.db import get_sessionmaker

    return get_sessionmaker()()


def _describe(row) -> str:
    from app.backends.service import limits_out

    limits = limits_out(row)
    where = row.base_url or "Tuneloop's model server"
    key = f", key from ${row.api_key_env}" if row.api_key_env else ""
    rpm = limits.rpm or "unlimited"
    tpm = limits.tpm or "unlimited"
    test = row.last_test or {}
    tested = ("never tested" if not test else
              f"last test ok ({test.get('latency_ms')} ms)" if test.get("ok") else "last test failed")
    return (f"{row.name}  [{row.kind.value}]  {where}  model {row.model}{key}\n"
            f"    {limits.max_concurrency} at once, rpm {rpm}, tpm {tpm}, timeout {limits.timeout_s:g} s, "
            f"{limits.max_retries} retries; {tested}")


@backend_cli.command("add")
def backend_add(
    name: Annotated[str, typer.Argument(help="A slug, e.g. vllm-llama3; jobs name the backend by it.")],
    model: Annotated[str, typer.Option(help="The server's model id; for local a model folder or run-<id>.")],
    kind: Annotated[str, typer.Option(help="openai (any OpenAI-compatible server) or local.")] = "openai",
    base_url: Annotated[str, typer.Option(help="openai: the server's /v1 URL.")] = "",
    api_key_env: Annotated[str, typer.Option(help="Name of the environment variable holding the API key "
                                                  "(never the key itself).")] = "",
    adapter: Annotated[str, typer.Option(help="local: a LoRA adapter folder.")] = "",
    max_concurrency: Annotated[int | None, typer.Option(help="Requests at once, all workers together.")] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute, all workers together.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute, all workers together.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for one answer.")] = None,
    max_retries: Annotated[int | None, typer.Option(help="Retries after 429s, 5xx and timeouts.")] = None,
) -> None:
    """Add a backend (like POST /api/v1/backends)."""
    from pydantic import ValidationError

    from app.backends.schemas import BackendCreate
    from app.backends.service import create_backend
    from app.core.errors import AppError

    limits = {k: v for k, v in {"max_concurrency": max_concurrency, "rpm": rpm, "tpm": tpm, "timeout_s": timeout,
                                "max_retries": max_retries}.items() if v is not None}
    try:
        data = BackendCreate(name=name, kind=kind, base_url=base_url, model=model, adapter=adapter,
                             api_key_env=api_key_env, limits=limits)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'backend'}: {e['msg']}" for e in exc.errors()))
    with _session() as session:
        try:
            row = create_backend(session, data=data, by=None)
            session.commit()
        except AppError as exc:
            _fail(exc.message)
        typer.echo(f"added {_describe(row)}")


@backend_cli.command("list")
def backend_list() -> None:
    """Every backend with its limits and last test."""
    from app.backends.service import list_backends

    with _session() as session:
        rows = list_backends(session)
        for row in rows:
            typer.echo(_describe(row))
        if not rows:
            typer.echo("no backend yet; add one with `tuneloop backend add NAME --base-url URL --model ID`")


@backend_cli.command("test")
def backend_test(name: Annotated[str, typer.Argument(help="The backend's name.")]) -> None:
    """Send a few tiny requests: latency, the answer, and what the backend supports. Exit 1 if it fails."""
    from app.backends.service import probe_backend
    from app.core.errors import AppError

    with _session() as session:
        try:
            result = probe_backend(session, name=name)
            session.commit()
        except AppError as exc:
            _fail(exc.message)
    caps = ", ".join(f"{cap} {'yes' if ok else 'no'}" for cap, ok in result.capabilities.model_dump().items())
    if not result.ok:
        typer.echo(f"{name}: failed: {result.error}\n    {caps}")
        raise typer.Exit(1)
    typer.echo(f"{name}: ok in {result.latency_ms:g} ms; answer: {result.sample!r}\n    {caps}")


@backend_cli.command("delete")
def backend_delete(name: Annotated[str, typer.Argument(help="The backend's name.")]) -> None:
    """Delete a backend; refused while an active job uses it."""
    from app.backends.service import delete_backend
    from app.core.errors import AppError

    with _session() as session:
        try:
            delete_backend(session, name=name)
            session.commit()
        except AppError as exc:
            _fail(exc.message)
    typer.echo(f"deleted backend {name}")
