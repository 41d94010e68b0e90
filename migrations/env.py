"""Alembic environment: the URL comes from Settings (or a connection handed in by the tests)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from app.core.config import get_settings
from app.core.db import make_engine
from app.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# Full-text index objects the database keeps in step by itself and the models do not map (see
# app/models/document.py): the FTS5 table and its shadow tables on SQLite, the tsvector column and its GIN
# index on PostgreSQL. Comparing them against the models would always report drift.
UNMAPPED_TABLE_PREFIX = "passages_fts"
UNMAPPED_NAMES = {"search_vector", "ix_passages_search_vector"}


def include_name(name, type_, parent_names) -> bool:
    if type_ == "table" and name and name.startswith(UNMAPPED_TABLE_PREFIX):
        return False
    return not (type_ in ("column", "index") and name in UNMAPPED_NAMES)


def run_migrations_offline() -> None:
    context.configure(url=get_settings().database_url, target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection) -> None:
    # Batch mode lets ALTER work on SQLite (copy-and-move); compare_type catches column type drift.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    get_settings().ensure_dirs()
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.attributes.get("url") or get_settings().database_url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
