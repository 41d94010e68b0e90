"""`tuneloop dataset import PATH`: store a file or a datasets folder as a source dataset, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

dataset_cli = typer.Typer(help="Source datasets for templates.", no_args_is_help=True)


@dataset_cli.command("import")
def import_dataset(
    path: Annotated[Path, typer.Argument(help="A .jsonl, .json, .csv or .parquet file, or a datasets "
                                              "save_to_disk folder.")],
    project: Annotated[str, typer.Option(help="The project's slug.")],
    name: Annotated[str, typer.Option(help="The dataset's name in the project.")],
    task: Annotated[str, typer.Option(help="The task its records are (templates are written per task).")],
    source: Annotated[str, typer.Option(help="The source collection: T0, Flan2021, CoT, NIv2, Dialog, ...")],
    format: Annotated[str | None, typer.Option("--format", help="jsonl, json, csv, parquet or hf "
                                                                "(default: from the name).")] = None,
    split: Annotated[str | None, typer.Option(help="For a DatasetDict folder: the split (default train).")] = None,
) -> None:
    """Import raw records as a named dataset; a bad row (broken, or a field changing type) stores nothing."""
    from app.core.db import get_sessionmaker
    from app.core.errors import AppError
    from app.datasets.service import import_path

    if not path.exists():
        _fail(f"{path} does not exist")
    with get_sessionmaker()() as session:
        try:
            dataset = import_path(session, project_slug=project, path=path, name=name, task=task, source=source,
                                  fmt=format, split=split)
            session.commit()
        except AppError as exc:
            session.rollback()
            lines = [exc.message, *[f"  row {d['row']}: {d['message']}" for d in exc.details if "row" in d][:20]]
            _fail("\n".join(lines))
        fields = ", ".join(f"{k} ({v})" for k, v in dataset.fields.items())
        typer.echo(f"dataset '{dataset.name}' ({dataset.task}, {dataset.source}): {dataset.rows} records; "
                   f"fields: {fields}")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)
