"""`tuneloop documents import PATH|FOLDER --project SLUG --licence L`: a file, or every document file in a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

documents_cli = typer.Typer(help="Document collections for grounded question answering.", no_args_is_help=True)


@documents_cli.command("import")
def import_documents(
    path: Annotated[Path, typer.Argument(help="A document file, or a folder (its .txt, .md, .html, .pdf and .jsonl "
                                              "files, subfolders included).")],
    project: Annotated[str, typer.Option("--project", help="The slug of the project.")],
    licence: Annotated[str, typer.Option("--licence", help="The documents' licence, kept on each.")] = "",
    max_chars: Annotated[int | None, typer.Option("--max-chars", help="Longest passage, in characters.")] = None,
    overlap: Annotated[int | None, typer.Option("--overlap", help="Characters repeated between passages.")] = None,
    by_heading: Annotated[bool, typer.Option("--by-heading/--no-by-heading", help="New passage at each heading.")]
    = True,
) -> None:
    """Store each document in its own transaction; a bad or duplicate one is named and skipped, the rest kept.
    Exits 1 when any document was refused."""
    from rich.console import Console
    from rich.markup import escape

    from app.core.db import get_sessionmaker
    from app.core.errors import AppError
    from app.documents.extract import EXTENSIONS
    from app.documents.routes import split_settings
    from app.documents.service import get_project, ingest_file

    err = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)
    if not path.exists():
        err.print(f"[red]error:[/red] no such file or folder: {escape(str(path))}")
        raise typer.Exit(2)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS) if path.is_dir() \
        else [path]
    if not files:
        err.print(f"[red]error:[/red] {escape(str(path))} holds no .txt, .md, .html, .pdf or .jsonl file")
        raise typer.Exit(2)
    stored = refused = passages = 0
    with get_sessionmaker()() as session:
        try:
            target = get_project(session, project)
            settings = split_settings(max_chars, overlap, by_heading)
        except AppError as exc:
            err.print(f"[red]error:[/red] {escape(exc.message)}")
            raise typer.Exit(2) from None
        for file in files:
            name = str(file.relative_to(path)) if path.is_dir() else file.name
            for outcome in ingest_file(session, project=target, name=name, path=file, licence=licence,
                                       settings=settings):
                if outcome.document is None:
                    refused += 1
                    err.print(f"[yellow]refused[/yellow] ({outcome.code}) {escape(outcome.message or '')}")
                else:
                    stored += 1
                    passages += outcome.document.passage_count
            session.commit()  # each file's documents are kept as soon as they are stored
    typer.echo(f"stored {stored} documents ({passages} passages) into {project}; {refused} refused")
    if refused:
        raise typer.Exit(1)
