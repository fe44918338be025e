"""INSERT ... ON CONFLICT DO UPDATE ... RETURNING id, for SQLite and PostgreSQL.

One statement instead of select-then-insert: safe when two launches of the same new user
or course race, and fewer round trips on the launch path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def upsert(
    session: Session,
    model: type[DeclarativeBase],
    values: Mapping[str, Any],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
) -> int:
    """Insert `values` or update the `update` columns of the row matching `conflict`; id."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Table = model.__table__  # type: ignore[assignment]
    stmt = insert(table).values(**values)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict),
            set_={name: stmt.excluded[name] for name in update},
        )
    else:  # still need RETURNING for an existing row: a no-op update of a conflict column
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict),
            set_={conflict[0]: stmt.excluded[conflict[0]]},
        )
    return int(session.execute(stmt.returning(table.c.id)).scalar_one())
