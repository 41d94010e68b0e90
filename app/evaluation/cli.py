"""`tuneloop evaluation-set user-oriented PATH --project SLUG`: the first evaluation set, from the shared file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

evaluation_cli = typer.Typer(help="Evaluation sets.", no_args_is_help=True)


@evaluation_cli.command("user-oriented")
def user_oriented(
    path: Annotated[Path, typer.Argument(help="Self-Instruct's user_oriented_instructions.jsonl.")],
    project: Annotated[str, typer.Option("--project", help="The slug of the project.")],
    name: Annotated[str, typer.Option("--name", help="The set's name.")] = "user-oriented-252",
) -> None:
    """Import the 252 user-oriented tasks with their references and freeze them as an evaluation set."""
    from app.core.db import get_sessionmaker
    from app.core.errors import AppError
    from app.evaluation.sets import build_user_oriented
    from app.projects.service import get_project

    with get_sessionmaker()() as session:
        try:
            made = build_user_oriented(session, project=get_project(session, slug=project), path=path, name=name)
            session.commit()
        except AppError as exc:
            session.rollback()
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"evaluation set '{made.name}' in {project}: {made.size} instructions, {made.references} with a "
                   f"reference, {made.labels} with a label; sha256 {made.sha256}")
