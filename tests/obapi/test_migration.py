"""Migration 0006_obapi matches the models and goes down and up again (SQLite file of its own)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect

from lti_tool import migrate
from lti_tool.db import Database
from lti_tool.models import Base

TABLES = {
    "obapi_clients",
    "obapi_authorization_codes",
    "obapi_tokens",
    "obapi_signins",
    "obapi_uploads",
    "issued_clrs",
}


def _revision() -> ModuleType:
    path = migrate.MIGRATIONS_DIR / "versions" / "0006_obapi.py"
    spec = importlib.util.spec_from_file_location("rev_0006_obapi", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ours(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    table = obj if kind == "table" else getattr(obj, "table", None)
    return table is not None and table.name in TABLES


def _differences(database: Database) -> list[object]:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": _ours, "compare_type": True},
        )
        return list(compare_metadata(context, Base.metadata))


def _run(database: Database, step: Callable[[], None]) -> None:
    with (
        database.engine.begin() as connection,
        Operations.context(MigrationContext.configure(connection)),
    ):
        step()


def test_0006_obapi_matches_models_and_downgrades(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    revision = _revision()
    try:
        migrate.upgrade(database)
        assert revision.down_revision == "0005"
        assert set(inspect(database.engine).get_table_names()) >= TABLES
        assert _differences(database) == []
        _run(database, revision.downgrade)
        assert not TABLES & set(inspect(database.engine).get_table_names())
        _run(database, revision.upgrade)
        assert _differences(database) == []
    finally:
        database.dispose()
