"""Opaque cursor pagination on (updated_at, id), with RFC 8288 `Link` headers.

A page is `WHERE (updated_at, id) > (last seen) ORDER BY updated_at, id LIMIT n + 1`: with
the (platform_id, updated_at, id) index each page is one index range scan, so page 200 of
100,000 rows costs what page 1 costs. A row changed while a client pages moves to the end
and is seen again (at least once, never skipped).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from flask import request
from sqlalchemy import ColumnElement, Row, Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from .errors import ApiProblem

T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    updated_at: datetime
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.updated_at.astimezone(UTC).isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            stamp, row_id = json.loads(raw)
            moment = datetime.fromisoformat(stamp)
            if moment.tzinfo is None or not isinstance(row_id, int) or isinstance(row_id, bool):
                raise ValueError("bad cursor")
            return cls(moment, row_id)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise ApiProblem(
                400,
                "The cursor is not one this API gave out; start again without it.",
                kind="invalid-cursor",
            ) from exc


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: Cursor | None

    def link_header(self) -> dict[str, str]:
        if self.next_cursor is None:
            return {}
        args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "cursor"}
        args["cursor"] = self.next_cursor.encode()
        return {"Link": f'<{request.base_url}?{urlencode(args)}>; rel="next"'}


Column = ColumnElement[Any] | InstrumentedAttribute[Any]


def _keyset(
    query: Select[Any],
    updated_at: Column,
    id_column: Column,
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    if cursor:
        after = Cursor.decode(cursor)
        since = literal(after.updated_at, updated_at.type)
        query = query.where(tuple_(updated_at, id_column) > tuple_(since, literal(after.id)))
    return query.order_by(updated_at, id_column).limit(limit + 1)


def _page(rows: list[Any], limit: int) -> Page[Any]:
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    last = rows[-1]
    return Page(rows, Cursor(last.updated_at, last.id))


def keyset_page(
    session: Session,
    query: Select[Any],
    *,
    updated_at: Column,
    id_column: Column,
    cursor: str | None,
    limit: int,
) -> Page[Any]:
    """One page of `query` (a select of ORM entities) in (updated_at, id) order."""
    statement = _keyset(query, updated_at, id_column, cursor, limit)
    return _page(list(session.scalars(statement)), limit)


def keyset_rows(
    session: Session,
    query: Select[Any],
    *,
    updated_at: Column,
    id_column: Column,
    cursor: str | None,
    limit: int,
) -> Page[Row[Any]]:
    """Like `keyset_page` for a select of columns (no ORM objects: the fast path for big
    pages); the columns must include `updated_at` and `id` under those names."""
    statement = _keyset(query, updated_at, id_column, cursor, limit)
    return _page(list(session.execute(statement).all()), limit)
