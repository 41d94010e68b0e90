"""`tuneloop export`: queue an export from the shell, optionally waiting for it with a progress bar."""

from __future__ import annotations

import time
from typing import Annotated

import typer


def export_command(
    project: Annotated[str, typer.Option(help="The project's slug.")],
    format: Annotated[str, typer.Option("--format", help="sft-alpaca, sft-messages, sharegpt, preference or kto.")],
    file_format: Annotated[str | None, typer.Option(help="jsonl (default; json for alpaca), parquet or hf.")] = None,
    style: Annotated[str, typer.Option("--style", help="preference/kto: plain or conversational.")] = "plain",
    eval_fraction: Annotated[float, typer.Option(help="Share of train instructions sent to eval.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the eval split's hash.")] = 0,
    dedupe: Annotated[bool, typer.Option("--dedupe/--no-dedupe", help="Drop exact duplicate rows.")] = True,
    include_holdout: Annotated[bool, typer.Option(help="Write holdout items to their own file.")] = False,
    split: Annotated[list[str] | None, typer.Option(help="Only these splits (repeat): train, eval.")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only these sources (repeat).")] = None,
    construction: Annotated[list[str] | None, typer.Option(
        help="Only instructions made this way (repeat): human, template, distilled, self-generated.")] = None,
    meta: Annotated[list[str] | None, typer.Option(help="Metadata KEY=VALUE the items must have (repeat).")] = None,
    approved_since: Annotated[str | None, typer.Option(help="Only approvals at or after this ISO time.")] = None,
    annotator_id: Annotated[int | None, typer.Option(help="Only items this user annotated.")] = None,
    subset: Annotated[str | None, typer.Option(help="Only instructions of this saved subset (curation).")] = None,
    mixture: Annotated[str | None, typer.Option(help="Sample a Flan-style mixture: a preset (flan2022) or a JSON "
                                                     "file with the mixture's fields.")] = None,
    mixture_total: Annotated[int | None, typer.Option(help="Rows in the mixture (with --mixture).")] = None,
    user: Annotated[str | None, typer.Option(help="The admin recorded as its creator (default: first admin).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the worker to finish, with a progress bar.")] = False,
) -> None:
    """Export approved data as a versioned snapshot (a worker builds it)."""
    from pydantic import ValidationError

    from app.core.db import get_sessionmaker
    from app.core.errors import AppError, pydantic_details
    from app.exports import service
    from app.exports.schemas import ExportCreate

    filters: dict = {k: v for k, v in {"split": split, "source": source, "construction": construction,
                                       "approved_since": approved_since, "annotator_id": annotator_id,
                                       "subset": subset}.items() if v}
    if meta:
        pairs = [m.partition("=") for m in meta]
        bad = [m for m, (_k, sep, _v) in zip(meta, pairs, strict=True) if not sep]
        if bad:
            _fail(f"--meta needs KEY=VALUE; got {', '.join(bad)}")
        filters["metadata"] = {k: v for k, _sep, v in pairs}
    try:
        data = ExportCreate(format=format, file_format=file_format, preference_style=style,
                            eval_fraction=eval_fraction, seed=seed, dedupe=dedupe, include_holdout=include_holdout,
                            filters=filters, mixture=_mixture(mixture, mixture_total))
    except ValidationError as exc:
        _fail("; ".join(f"{d['field'] or 'options'}: {d['message']}" for d in pydantic_details(list(exc.errors()))))
    with get_sessionmaker()() as session:
        try:
            creator = service.cli_user(session, email=user)
            export = service.create_export(session, project_slug=project, data=data, user=creator)
            session.commit()
        except AppError as exc:
            _fail(exc.message)
        export_id, version = export.id, export.version
    typer.echo(f"export {export_id} queued: {project} v{version} {format}")
    if wait:
        _wait(export_id)


def _mixture(value: str | None, total: int | None) -> dict | None:
    """--mixture flan2022 --mixture-total N, or --mixture recipe.json (its fields; --mixture-total overrides)."""
    import json
    from pathlib import Path

    if value is None:
        if total is not None:
            _fail("--mixture-total needs --mixture (a preset or a JSON file)")
        return None
    if Path(value).is_file():
        try:
            recipe = json.loads(Path(value).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _fail(f"--mixture {value}: not a JSON file ({exc})")
        if not isinstance(recipe, dict):
            _fail(f"--mixture {value}: the file must hold one JSON object")
    else:
        recipe = {"preset": value}
    if total is not None:
        recipe["total"] = total
    if "total" not in recipe:
        _fail("a mixture needs its size: --mixture-total N")
    return recipe


def _wait(export_id: int) -> None:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from app.core.db import get_sessionmaker
    from app.exports import service

    with Progress(TextColumn("[bold]export {task.fields[id]}"), BarColumn(), TaskProgressColumn(),
                  TextColumn("{task.completed}/{task.total} {task.fields[status]}")) as bar:
        task = bar.add_task("export", total=None, id=export_id, status="queued")
        while True:
            with get_sessionmaker()() as session:
                export = service.get_export(session, export_id)
                session.commit()
                status, done, total = export.status.value, export.rows_done, export.rows_total
                error, path, sha = export.error, export.path, export.sha256
            bar.update(task, completed=done, total=total, status=status)
            if status in ("succeeded", "failed"):
                break
            time.sleep(0.5)
    if status == "failed":
        _fail(f"export {export_id} failed: {error}")
    typer.echo(f"export {export_id} succeeded: {path}\nsha256 {sha}")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)
