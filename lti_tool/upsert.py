"""INSERT ... ON CONFLICT DO UPDATE ... RETURNING id, for SQLite and PostgreSQL.

One statement instead of select-then-insert: safe when two launches of the same new user
or course race, and fewer round trips on the launch path.

The statement depends only on the table, the dialect and the column names, so it is built
once per process and executed with the values as bound parameters: building it (and its
`excluded` alias) for every call cost more CPU than running it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

_StatementKey = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]
_statements: dict[_StatementKey, Executable] = {}
_lock = threading.Lock()


def _statement(
    table: Table,
    dialect: str,
    columns: tuple[str, ...],
    conflict: Sequence[str],
    update: Sequence[str],
    returning: bool = True,
) -> Executable:
    key = (table.fullname, dialect, columns, tuple(conflict), tuple(update), returning)
    stmt = _statements.get(key)
    if stmt is not None:
        return stmt
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    base = insert(table)
    if update:
        set_ = {name: base.excluded[name] for name in update}
    else:  # still need RETURNING for an existing row: a no-op update of a conflict column
        set_ = {conflict[0]: base.excluded[conflict[0]]}
    built: Executable = base.on_conflict_do_update(index_elements=list(conflict), set_=set_)
    if returning:
        built = base.on_conflict_do_update(index_elements=list(conflict), set_=set_).returning(
            table.c.id
        )
    with _lock:
        return _statements.setdefault(key, built)


def upsert(
    session: Session,
    model: type[DeclarativeBase],
    values: Mapping[str, Any],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
) -> int:
    """Insert `values` or update the `update` columns of the row matching `conflict`; id."""
    stmt = _prepare(session, model, values, conflict, update, returning=True)
    return int(session.execute(stmt, dict(values)).scalar_one())


def upsert_by_key(
    session: Session,
    model: type[DeclarativeBase],
    values: Mapping[str, Any],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
) -> None:
    """`upsert` for a table without an integer `id` column: nothing is returned."""
    stmt = _prepare(session, model, values, conflict, update, returning=False)
    session.execute(stmt, dict(values))


def _prepare(
    session: Session,
    model: type[DeclarativeBase],
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Sequence[str],
    *,
    returning: bool,
) -> Executable:
    dialect = session.get_bind().dialect.name
    table: Table = model.__table__  # type: ignore[assignment]
    unknown = set(values) - set(table.c.keys())
    if unknown:  # .values(**values) used to refuse these; a bound parameter would not
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
    return _statement(table, dialect, tuple(sorted(values)), conflict, update, returning)
