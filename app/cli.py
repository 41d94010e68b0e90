"""The `tuneloop` command: serve, worker, migrate, user, token, import, export, model, backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.core.config import get_settings

cli = typer.Typer(help="Tuneloop: turn human feedback into instruction-tuned models.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
user_cli = typer.Typer(help="Manage users.", no_args_is_help=True)
token_cli = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
cli.add_typer(user_cli, name="user")
cli.add_typer(token_cli, name="token")
model_cli = typer.Typer(help="Base models for tuning, and the model server.", no_args_is_help=True)
cli.add_typer(model_cli, name="model")


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def _session():
    from app.core.db import get_sessionmaker

    return get_sessionmaker()()


def run_migrations(url: str | None = None) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parents[1]
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["configure_logger"] = False
    if url:
        config.attributes["url"] = url
    command.upgrade(config, "head")


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    run_migrations()
    typer.echo("database is up to date")


def bootstrap_admin() -> None:
    """Create the first admin from TUNELOOP_ADMIN_EMAIL/_PASSWORD, or with a generated password printed once."""
    from app.users.service import ensure_first_admin

    settings = get_settings()
    with _session() as session:
        created = ensure_first_admin(session, email=settings.admin_email, password=settings.admin_password)
        session.commit()
    if created:
        user, generated = created
        typer.secho(f"Created the first admin: {user.email}", fg=typer.colors.GREEN)
        if generated:
            typer.secho(f"  password: {generated}   (shown once; change it after signing in)",
                        fg=typer.colors.YELLOW)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port; defaults to $PORT or 8000.")] = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker",
                                         help="Start embedded workers and the model server.")] = True,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Migrate before serving.")] = True,
) -> None:
    """Serve the web app, with embedded Celery workers and the model server unless --no-worker."""
    import uvicorn

    port = port or int(os.environ.get("PORT", "8000"))
    settings = get_settings()
    settings.ensure_dirs()
    if migrate_first:
        run_migrations()
        bootstrap_admin()
    ensure_demo_model()
    children: list[subprocess.Popen] = []
    if worker:
        # Two processes, like production: exports and imports on "default", training alone on "training".
        env = {**os.environ, "TUNELOOP_EMBEDDED_PARENT_PID": str(os.getpid())}
        for queues, pool, concurrency in (("default", "threads", "2"), ("training", "solo", "1")):
            children.append(subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--queues", queues,
                                              "--pool", pool, "--concurrency", concurrency, "--loglevel", "warning"],
                                             env=env))
        # The third: the model server behind /v1 and local backends (torch loads in it, never in this process).
        children.append(subprocess.Popen([sys.executable, "-m", "worker.serving", "--log-level", "warning"], env=env))
    typer.secho(f"Tuneloop on http://{host}:{port}  (database: {_redact(settings.database_url)})",
                fg=typer.colors.GREEN)
    try:
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port, log_level="info")
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


DEMO_MODEL_DIR = "models/tiny-llama"
DEMO_T5_DIR = "models/tiny-t5"  # an encoder-decoder, as Flan's models are


def ensure_demo_model() -> None:
    """Build the tiny demo models once, so a fresh install can start a tuning run with no download."""
    for folder, extra in ((DEMO_MODEL_DIR, []), (DEMO_T5_DIR, ["--arch", "t5"])):
        target = get_settings().data_dir / folder
        if (target / "config.json").exists():
            continue
        typer.echo(f"Building the tiny demo base model in {target} in the background (once).")
        # In the background: the server must come up at once; the model is ready a few seconds later.
        subprocess.Popen([sys.executable, "-m", "worker.training", "init-tiny", str(target), *extra],
                         stdout=subprocess.DEVNULL, start_new_session=True)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "default,training",
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, threads or solo.")] = "prefork",
    concurrency: Annotated[int, typer.Option(help="Parallel tasks; training runs one at a time anyway.")] = 2,
    loglevel: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run a Celery worker."""
    get_settings().ensure_dirs()
    # The worker is its own program (it loads the training stack); the web package never imports it.
    args = [sys.executable, "-m", "celery", "-A", "worker.celery_app:celery_app", "worker", "-Q", queues,
            "-P", pool, "-c", str(concurrency), "-l", loglevel, "--without-gossip", "--without-mingle",
            "-n", f"tuneloop-{queues.replace(',', '-')}-{os.getpid()}@%h"]
    os.execv(sys.executable, args)


@user_cli.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="E-mail address, used to sign in.")],
    password: Annotated[str, typer.Option(help="At least 8 characters.")],
    role: Annotated[str, typer.Option(help="admin, reviewer or annotator.")] = "annotator",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create a user."""
    from app.core.errors import AppError
    from app.users.service import create_user

    with _session() as session:
        try:
            user = create_user(session, email=email, password=password, role=role, name=name)
            session.commit()
        except AppError as exc:
            _fail(exc.message)
        typer.echo(f"created {user.role.value} {user.email} (id {user.id})")


@token_cli.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="The e-mail of the user the token acts as.")],
    name: Annotated[str, typer.Option(help="A name to tell tokens apart.")] = "cli",
) -> None:
    """Create an API token; the token is printed alone on the last line, once."""
    from app.core.errors import AppError
    from app.users.service import create_token, get_user_by_email

    with _session() as session:
        try:
            owner = get_user_by_email(session, user)
            issued = create_token(session, user=owner, name=name)
            session.commit()
        except AppError as exc:
            _fail(exc.message)
        typer.echo(f"token '{issued.token.name}' for {owner.email} ({owner.role.value}); it is shown only once:")
        typer.echo(issued.secret)


@model_cli.command("init-tiny")
def model_init_tiny(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Where to write the model and tokenizer.")],
    vocab_size: Annotated[int, typer.Option(help="Largest vocabulary (the built-in corpus may give fewer).")] = 1024,
    hidden_size: Annotated[int, typer.Option(help="Hidden size, a multiple of 16.")] = 96,
    layers: Annotated[int, typer.Option(help="Decoder layers.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed for the weights.")] = 0,
    arch: Annotated[str, typer.Option(help="llama (a causal LM with a chat template) or t5 (an encoder-decoder, "
                                           "as Flan's models are).")] = "llama",
) -> None:
    """Write a tiny random model (Llama-style, or T5 with --arch t5) with an offline-trained tokenizer to DIR."""
    # The training stack lives in the worker; the web package must not import it, so run it as its own program.
    args = [sys.executable, "-m", "worker.training", "init-tiny", str(directory), "--vocab-size", str(vocab_size),
            "--hidden-size", str(hidden_size), "--layers", str(layers), "--seed", str(seed), "--arch", arch]
    raise typer.Exit(subprocess.run(args, check=False).returncode)


@model_cli.command("serve")
def model_serve(
    host: Annotated[str | None, typer.Option(help="Address; defaults to TUNELOOP_MODEL_SERVER_URL's host.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; defaults to TUNELOOP_MODEL_SERVER_URL's port.")] = None,
    loglevel: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the model server: local backends and tuned runs, OpenAI-compatibly, for /v1 and the workers."""
    from app.serving.internal import model_server_address

    default_host, default_port = model_server_address()
    get_settings().ensure_dirs()
    # The server loads torch; it is its own program so that this package never imports it.
    args = [sys.executable, "-m", "worker.serving", "--host", host or default_host, "--port",
            str(port or default_port), "--log-level", loglevel]
    os.execv(sys.executable, args)


def _register_import() -> None:
    # The command lives with the importer; the module imports its heavy parts only when run.
    from app.imports.cli import import_command

    cli.command("import")(import_command)


_register_import()


def _register_export() -> None:
    from app.exports.cli import export_command  # cheap: heavy imports happen inside the command

    cli.command("export")(export_command)


_register_export()


def _register_documents() -> None:
    from app.documents.cli import documents_cli  # cheap: heavy imports happen inside the command

    cli.add_typer(documents_cli, name="documents")


_register_documents()


def _register_evaluation() -> None:
    from app.evaluation.cli import evaluation_cli

    cli.add_typer(evaluation_cli, name="evaluation-set")


_register_evaluation()


def _register_backend() -> None:
    from app.backends.cli import backend_cli  # cheap: the service is imported inside each command

    cli.add_typer(backend_cli, name="backend")


_register_backend()


def _register_dataset() -> None:
    from app.datasets.cli import dataset_cli  # cheap: the service is imported when a command runs

    cli.add_typer(dataset_cli, name="dataset")


_register_dataset()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
