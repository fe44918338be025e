"""Expired LTI state and sessions are purged; live ones are kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from lti_tool.db import Database
from lti_tool.housekeeping import Housekeeper, purge_expired
from lti_tool.models import LaunchData, utcnow


def test_purge_removes_only_expired_rows(database: Database) -> None:
    with database.session() as s:
        s.add(LaunchData(key="old", value={}, expires_at=utcnow() - timedelta(seconds=1)))
        s.add(LaunchData(key="live", value={}, expires_at=utcnow() + timedelta(hours=1)))
    with database.session() as s:
        assert purge_expired(s) == 1
    with database.session() as s:
        assert s.scalars(select(LaunchData.key)).all() == ["live"]


def test_housekeeper_runs_at_most_once_per_interval(database: Database) -> None:
    keeper = Housekeeper(interval=3600)
    with database.session() as s:
        assert keeper.maybe_purge(s) == 0
        assert keeper.maybe_purge(s) is None
        assert s.scalar(select(func.count()).select_from(LaunchData)) == 0
