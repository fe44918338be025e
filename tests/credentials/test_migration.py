"""Migration 0003 goes down and up again cleanly (SQLite file of its own)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from lti_tool import migrate
from lti_tool.db import Database

TABLES = {
    "achievements",
    "achievement_alignments",
    "achievement_images",
    "issuer_profiles",
    "awards",
    "audit_events",
    "pathways",
    "pathway_nodes",
}


def test_0003_downgrade_and_upgrade(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        migrate.upgrade(database)
        assert set(inspect(database.engine).get_table_names()) >= TABLES
        config = migrate.alembic_config(database)
        from alembic import command

        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
        assert not TABLES & set(inspect(database.engine).get_table_names())
        migrate.upgrade(database)
        assert migrate.pending_revisions(database) == []
    finally:
        database.dispose()
