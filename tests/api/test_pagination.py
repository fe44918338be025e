"""Cursor pagination through many awards with `updated_since`: every row exactly once, in
(updated_at, id) order, `Link: rel="next"` until the end; a row changed meanwhile comes
again at the end; a forged cursor is a 400 problem."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import insert, update

from lti_tool.db import Database
from lti_tool.models import Award, User, utcnow

from .conftest import Api, Tenant

ROWS = 1_250


def _seed(database: Database, tenant: Tenant, rows: int) -> list[int]:
    """`rows` awards with distinct updated_at values spread over the last 10 days."""
    start = utcnow() - timedelta(days=10)
    with database.session() as session:
        session.execute(
            insert(User),
            [
                {"platform_id": tenant.platform_id, "sub": f"bulk-{i}", "name": f"Bulk {i}",
                 "hr_ids": {}, "created_at": start, "updated_at": start}
                for i in range(rows)
            ],
        )  # fmt: skip
        user_ids = session.scalars(
            User.__table__.select().with_only_columns(User.id).where(User.sub.like("bulk-%"))
        ).all()
        step = timedelta(days=10) / rows
        session.execute(
            insert(Award),
            [
                {
                    "achievement_id": tenant.achievement_id,
                    "user_id": user_id,
                    "platform_id": tenant.platform_id,
                    "issued_at": start + i * step,
                    "source": "bulk",
                    "status": "active",
                    "version": 1,
                    "created_at": start + i * step,
                    "updated_at": start + (i // 2) * 2 * step,  # pairs share a timestamp
                }
                for i, user_id in enumerate(sorted(user_ids))
            ],
        )
    with database.read_session() as session:
        return list(
            session.scalars(Award.__table__.select().with_only_columns(Award.id).order_by(Award.id))
        )


def _walk(api: Api, path: str) -> tuple[list[dict[str, object]], int]:
    seen: list[dict[str, object]] = []
    pages = 0
    while path:
        response = api.get(path)
        assert response.status_code == 200, response.get_json()
        seen.extend(response.get_json())
        pages += 1
        link = response.headers.get("Link")
        match = re.match(r'<https://tool\.test(?P<path>[^>]+)>; rel="next"', link or "")
        assert (link is None) == (match is None)
        path = match.group("path") if match else ""
    return seen, pages


def test_pages_through_every_award_once_in_order(
    api_a: Api, tenant_a: Tenant, database: Database
) -> None:
    ids = _seed(database, tenant_a, ROWS)
    seen, pages = _walk(api_a, "/api/v1/awards?limit=100")
    assert pages == 13
    assert sorted(a["id"] for a in seen) == ids
    keys = [(a["updated_at"], a["id"]) for a in seen]
    assert keys == sorted(keys)


def test_updated_since_and_a_change_while_paging(
    api_a: Api, tenant_a: Tenant, database: Database
) -> None:
    ids = _seed(database, tenant_a, ROWS)
    since = (utcnow() - timedelta(days=5)).isoformat()
    first = api_a.get("/api/v1/awards", query_string={"updated_since": since, "limit": 200})
    recent = first.get_json()
    assert all(a["updated_at"] >= since for a in recent)
    link = first.headers["Link"]
    assert "updated_since=" in link and "cursor=" in link
    # an award already delivered on page 1 changes: it must come again later
    changed_id = recent[0]["id"]
    with database.session() as session:
        session.execute(update(Award).where(Award.id == changed_id).values(updated_at=utcnow()))
    rest, _ = _walk(api_a, re.match(r"<https://tool\.test([^>]+)>", link).group(1))  # type: ignore[union-attr]
    all_seen = [a["id"] for a in recent + rest]
    assert all_seen.count(changed_id) == 2
    assert all_seen[-1] == changed_id
    expected = {i for i in ids if i >= ids[0]}
    assert set(all_seen) < expected
    assert 0.45 * ROWS < len(set(all_seen)) < 0.55 * ROWS


def test_a_forged_cursor_is_a_400_problem(api_a: Api) -> None:
    for cursor in ("garbage", "W1siYSJdXQ", "WyIyMDI2LTAxLTAxIiwgMV0"):
        response = api_a.get("/api/v1/awards", query_string={"cursor": cursor})
        assert response.status_code == 400, cursor
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["type"].endswith("invalid-cursor")
