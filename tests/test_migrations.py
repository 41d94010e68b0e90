"""The migrations produce exactly the models' schema (alembic check), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parents[1]


def test_alembic_check_finds_no_drift(database_url):
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = database_url
    config.attributes["configure_logger"] = False
    command.check(config)  # raises if the models and the migrated database differ


def test_migration_files_are_date_named():
    names = [p.name for p in (ROOT / "migrations" / "versions").glob("*.py")]
    assert names and all(n[:10].replace("_", "").isdigit() for n in names), names
