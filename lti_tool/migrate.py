"""Alembic migrations, driven from code (`microcred db upgrade`, `microcred serve`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError

from .db import Database


class MigrationError(Exception):
    """The database schema cannot be brought to this version; the message says why."""


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return config


def upgrade(database: Database, revision: str = "heads") -> None:
    config = alembic_config(database)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def pending_revisions(database: Database) -> list[str]:
    """Revisions not yet applied, oldest first (empty when the schema is current)."""
    script = ScriptDirectory.from_config(alembic_config(database))
    with database.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    # Works with several heads too (features developed on branches of the migration tree).
    try:
        applied = {
            rev.revision for rev in script.revision_map.iterate_revisions(current, "base") if rev
        }
    except ResolutionError as exc:
        raise MigrationError(
            f"the database is at revision {', '.join(current)}, which this version of "
            "Microcred does not know (was it migrated by a newer version?)"
        ) from exc
    return [
        rev.revision
        for rev in reversed(list(script.walk_revisions()))
        if rev.revision not in applied
    ]
