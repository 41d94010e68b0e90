"""`tuneloop import PATH --project SLUG --format ...`: the importer with a rich progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.imports.readers import FORMATS


def import_command(
    path: Annotated[Path, typer.Argument(help="A .json, .jsonl or .jsonl.gz file.")],
    project: Annotated[str, typer.Option("--project", help="The slug of the project to import into.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = "auto",
    quality: Annotated[str | None, typer.Option(
        "--quality", help="Quality rules applied while importing: 'lima' (LIMA's community Q&A filters) or a JSON "
                          "object of rules, e.g. '{\"preset\": \"lima\", \"min_score\": 5}'. Refused rows are "
                          "not stored; each is an item of a quality-filter job with its reason code.")] = None,
) -> None:
    """Bulk import instructions and candidates from a file, with a progress bar; all or nothing."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.core.db import get_sessionmaker
    from app.core.errors import AppError
    from app.imports.service import import_file
    from app.projects.service import get_project

    # Messages quote the file and its name: printed as they are, never read as markup or :emoji: codes.
    err = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)
    if fmt not in FORMATS:
        err.print(f"[red]error:[/red] unknown format {escape(repr(fmt))}; choose from {', '.join(FORMATS)}")
        raise typer.Exit(2)
    rules = None
    if quality is not None:
        from app.curation.importing import parse_rules

        try:
            rules = parse_rules(quality)
        except ValueError as exc:
            err.print(f"[red]error:[/red] --quality: {escape(str(exc))}")
            raise typer.Exit(2) from None
    with get_sessionmaker()() as session:
        try:
            target = get_project(session, slug=project)
            columns = (TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())
            with Progress(*columns, console=err, transient=False) as bar:
                task = bar.add_task(f"importing {path.name}", total=None)

                def on_progress(done: int, total: int | None) -> None:
                    bar.update(task, completed=done, total=total)

                result = import_file(session, project=target, path=path, fmt=fmt, progress=on_progress,
                                     quality=rules)
            session.commit()
        except AppError as exc:
            session.rollback()
            err.print(f"[red]error:[/red] {escape(exc.message)}")
            err.print("nothing was imported.")
            raise typer.Exit(1) from None
    typer.echo(f"imported {result.rows} rows ({result.format}) from {path} into {project}: "
               f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged")
    if result.quality_job_id is not None:
        refused = ", ".join(f"{code} {n}" for code, n in sorted((result.refused or {}).items())) or "none"
        typer.echo(f"quality rules refused: {refused} (job {result.quality_job_id} lists every row)")
