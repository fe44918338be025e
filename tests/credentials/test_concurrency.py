"""Concurrent awards: two connections award the same pair at the same moment.

On PostgreSQL the two transactions really overlap (the learner row lock and the
ON CONFLICT insert decide); on SQLite BEGIN IMMEDIATE serialises them, which the test
exercises too (the second writer waits for the lock instead of failing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from lti_tool.credentials import awards as svc
from lti_tool.credentials.pathways import define_pathway
from lti_tool.db import Database
from lti_tool.models import Achievement, AuditEvent, Award, Platform, User

from .conftest import ADMIN, make_achievement, make_platform, make_user


def _race(database: Database, jobs: list[Callable[[Any], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            with database.session() as s:
                results[index] = jobs[index](s)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def _setup(database: Database, n_achievements: int = 1) -> tuple[int, int, list[int]]:
    with database.session() as s:
        platform = make_platform(s)
        user = make_user(s, platform, "racer")
        badges = [make_achievement(s, platform, f"B{i}") for i in range(n_achievements)]
        return platform.id, user.id, [b.id for b in badges]


@pytest.mark.parametrize("learner_lock", [True, False], ids=["locked", "on-conflict-only"])
def test_same_award_twice_at_once(
    database: Database, monkeypatch: pytest.MonkeyPatch, learner_lock: bool
):
    """Without the learner lock (second case) the INSERT .. ON CONFLICT DO NOTHING alone
    must still give one award: on PostgreSQL the later inserts wait for the first
    transaction, then find its committed row."""
    if not learner_lock:
        monkeypatch.setattr(svc, "_lock_learner", lambda _s, _l: None)
    _platform_id, user_id, (badge_id,) = _setup(database)
    slow_first = threading.Event()

    def widen_window(_s: Any, _award: Award, _event: str) -> None:
        if not slow_first.is_set():  # hold the first transaction open a moment
            slow_first.set()
            threading.Event().wait(0.3)

    def job(s: Any) -> tuple[int, bool]:
        award, created = svc.award(
            s,
            s.get_one(Achievement, badge_id),
            s.get_one(User, user_id),
            source="manual",
            actor=ADMIN,
        )
        return award.id, created

    svc.award_listeners.append(widen_window)
    try:
        for _ in range(3):  # several rounds: each must end with exactly one award
            with database.session() as s:
                s.execute(Award.__table__.delete())
            slow_first.clear()
            results = _race(database, [job] * 4)
            ids = {award_id for award_id, _ in results}
            assert len(ids) == 1, results
            assert sorted(created for _, created in results) == [False, False, False, True]
            with database.session() as s:
                assert s.scalar(select(func.count()).select_from(Award)) == 1
    finally:
        svc.award_listeners.remove(widen_window)
    with database.session() as s:
        created_events = s.scalar(select(func.count()).where(AuditEvent.action == "award.created"))
        assert created_events == 3  # one per round, never one per caller


def test_components_of_a_pathway_landing_at_once_still_complete_it(database: Database):
    """Write skew guard: A and B awarded concurrently for one learner must not both miss
    the pathway that needs A and B (the learner row lock serialises them)."""
    platform_id, user_id, (a_id, b_id) = _setup(database, 2)
    with database.session() as s:
        pathway = define_pathway(
            s,
            s.get_one(Platform, platform_id),
            {
                "name": "A and B",
                "requirements": {
                    "kind": "all_of",
                    "children": [
                        {"kind": "achievement", "achievement_id": a_id},
                        {"kind": "achievement", "achievement_id": b_id},
                    ],
                },
            },
            actor=ADMIN,
        )
        credential_id = pathway.achievement_id

    def give(achievement_id: int) -> Callable[[Any], int]:
        def job(s: Any) -> int:
            award, _ = svc.award(
                s,
                s.get_one(Achievement, achievement_id),
                s.get_one(User, user_id),
                source="rule",
                actor="rule:1",
            )
            return award.id

        return job

    def widen_window(_s: Any, _award: Award, _event: str) -> None:
        threading.Event().wait(0.2)  # both transactions are open at once without the lock

    svc.award_listeners.append(widen_window)
    try:
        _race(database, [give(a_id), give(b_id)])
    finally:
        svc.award_listeners.remove(widen_window)
    with database.session() as s:
        held = s.scalars(select(Award.achievement_id).where(Award.user_id == user_id)).all()
        assert sorted(held) == sorted([a_id, b_id, credential_id])
