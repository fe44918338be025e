"""One page of a query for the in-LMS pages: `?page=` (clamped to the last page) and the
total, LIMIT / OFFSET over the query's order.

With `key` (the entity's primary key column) the page is found as a "deferred join": the
sort and the OFFSET run over the narrow key column only, then the page's (at most
`per_page`) full rows are loaded with the query's joins and eager loads. Sorting 5,000 wide
rows (JSON results, joined learners) to keep 50 was the cost of a deep page; sorting 5,000
ids is not. Three statements: the count, the ids, the rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from .scope import Page, page_number


def paged(
    session: Session,
    query: Select[Any],
    per_page: int,
    *,
    key: InstrumentedAttribute[int] | None = None,
) -> Page[Any]:
    total = int(
        session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    )
    last = max(1, -(-total // per_page))
    number = min(page_number(), last)
    window = ((number - 1) * per_page, per_page)
    if key is None:
        items = list(session.scalars(query.limit(window[1]).offset(window[0])))
    else:
        ids = list(session.scalars(query.with_only_columns(key).limit(window[1]).offset(window[0])))
        items = list(session.scalars(query.where(key.in_(ids)))) if ids else []
    return Page(items, number, per_page, total)
