"""`microcred worker`'s background parts: periodic housekeeping and award expiry."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

import pytest

from lti_tool.background import Background, Periodic, housekeeping
from lti_tool.credentials.awards import award
from lti_tool.db import Database
from lti_tool.models import AuditEvent, Award, utcnow
from lti_tool.settings import Settings

from .credentials.conftest import ADMIN, make_achievement, make_platform, make_user


def _award_expiring(database: Database, when: timedelta) -> int:
    with database.session() as session:
        tenant = make_platform(session)
        learner = make_user(session, tenant, "learner-1", email="ada@example.edu")
        achievement = make_achievement(session, tenant)
        granted, _ = award(session, achievement, learner, source="manual", actor=ADMIN)
        granted.expires_at = utcnow() + when
        return granted.id


def _status(database: Database, award_id: int) -> str:
    with database.read_session() as session:
        return session.get_one(Award, award_id).status


def test_housekeeping_expires_awards_whose_validity_ended(database: Database) -> None:
    ended = _award_expiring(database, timedelta(seconds=-1))
    assert _status(database, ended) == "active"
    assert housekeeping(database) == (0, 1)
    assert _status(database, ended) == "expired"
    assert housekeeping(database) == (0, 0)  # nothing twice


def test_housekeeping_leaves_awards_that_are_still_valid(database: Database) -> None:
    valid = _award_expiring(database, timedelta(days=1))
    assert housekeeping(database) == (0, 0)
    assert _status(database, valid) == "active"


def test_worker_background_expires_awards_without_any_login(
    database: Database, settings: Settings
) -> None:
    ended = _award_expiring(database, timedelta(seconds=-1))
    quiet = dataclasses.replace(settings, sync_runner="none", housekeeping_interval_seconds=0.05)
    background = Background(quiet, Database(database.url))
    parts = background.start()
    try:
        assert parts[0].startswith("housekeeping and award expiry every 0.05 s")
        assert parts[-1] == "sync is switched off (MICROCRED_SYNC_RUNNER=none)"
        deadline = time.monotonic() + 10
        while _status(database, ended) != "expired" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        background.stop()
    assert _status(database, ended) == "expired"
    with database.read_session() as session:
        kinds = [e.action for e in session.query(AuditEvent).order_by(AuditEvent.id)]
    assert kinds[-1] == "award.expired"


def test_a_failing_periodic_run_is_logged_and_the_next_one_runs() -> None:
    calls: list[int] = []
    twice = threading.Event()

    def flaky() -> None:
        calls.append(1)
        if len(calls) >= 2:
            twice.set()
        raise RuntimeError("database restarting")

    job = Periodic("flaky", 0.01, flaky).start()
    try:
        assert twice.wait(5)
    finally:
        job.stop()
    assert job.runs >= 2


def test_a_periodic_job_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        Periodic("never", 0, lambda: None)
