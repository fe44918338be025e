"""The outbox: deliveries are written in the award's transaction, one per active connection."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, text, update

from connectors.base import EventType
from lti_tool.credentials import awards
from lti_tool.db import Database
from lti_tool.models import Achievement, Award, Base, Connection, Installation, User
from lti_tool.models.sync import PENDING
from lti_tool.sync.installation import installation_id
from lti_tool.sync.outbox import event_id, idempotency_key

from .conftest import World


def test_one_delivery_per_enabled_connection_commits_with_the_award(
    make_world: Callable[[int], World], outbox: None
) -> None:
    world = make_world(1)
    first = world.connect("http://127.0.0.1:9/a", name="a")
    second = world.connect("http://127.0.0.1:9/b", name="b")
    paused = world.connect("http://127.0.0.1:9/c", name="c")
    off = world.connect("http://127.0.0.1:9/d", name="d")
    broken = world.connect("http://127.0.0.1:9/e", name="e")
    with world.database.session() as session:
        session.execute(update(Connection).where(Connection.id == paused).values(paused=True))
        session.execute(update(Connection).where(Connection.id == off).values(enabled=False))
        session.execute(
            update(Connection).where(Connection.id == broken).values(disabled_reason="failing")
        )

    (award_id,) = world.award(1)

    rows = world.deliveries()
    assert sorted(d.connection_id for d in rows) == [first, second, paused]
    with world.database.read_session() as session:
        installation = installation_id(session)
    for row in rows:
        assert row.award_id == award_id
        assert row.status == PENDING
        assert row.sequence == 1
        assert row.event_type == EventType.AWARDED
        assert row.event_id == event_id(award_id, 1)
        assert row.idempotency_key == idempotency_key(row.event_id, row.connection_id, installation)
    assert len({d.idempotency_key for d in rows}) == 3


def test_deliveries_roll_back_with_the_award(
    make_world: Callable[[int], World], outbox: None
) -> None:
    world = make_world(1)
    world.connect("http://127.0.0.1:9/a")
    seen_inside: list[int] = []

    def failing_request() -> None:
        with world.database.session() as session:
            awards.award(
                session,
                session.get_one(Achievement, world.achievement_id),
                session.get_one(User, world.learner_ids[0]),
                source="manual",
                actor="admin:test",
            )
            seen_inside.append(world.count())  # not visible outside the transaction
            raise RuntimeError("the request failed after awarding")

    with pytest.raises(RuntimeError):
        failing_request()
    assert seen_inside == [0]
    assert world.award_count() == 0
    assert world.count() == 0


def test_a_listener_failure_rolls_back_award_and_deliveries(
    make_world: Callable[[int], World], outbox: None
) -> None:
    world = make_world(1)
    world.connect("http://127.0.0.1:9/a")

    def boom(*_args: object) -> None:
        raise ValueError("credential builder failed")

    awards.award_listeners.append(boom)
    try:
        with pytest.raises(ValueError, match="credential builder"):
            world.award(1)
    finally:
        awards.award_listeners.remove(boom)
    assert (world.award_count(), world.count()) == (0, 0)


def test_each_change_queues_an_event_with_the_next_sequence(
    make_world: Callable[[int], World], outbox: None
) -> None:
    world = make_world(1)
    connection = world.connect("http://127.0.0.1:9/a")
    world.award(1, revoke=True)
    rows = world.deliveries()
    assert [(d.event_type, d.sequence, d.award_status) for d in rows] == [
        (EventType.AWARDED, 1, "active"),
        (EventType.REVOKED, 2, "revoked"),
    ]
    assert rows[0].idempotency_key != rows[1].idempotency_key
    assert {d.connection_id for d in rows} == {connection}


def test_nothing_is_queued_without_the_listener_or_a_connection(
    make_world: Callable[[int], World],
) -> None:
    world = make_world(2)
    world.connect("http://127.0.0.1:9/a")
    world.award(1)  # the outbox is not installed: nothing queued
    assert world.count() == 0


def _empty(database: Database) -> None:
    """Throw every row away, ids restarting at 1: what a database recreated from scratch is."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
        else:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def test_a_recreated_database_never_reuses_an_idempotency_key(
    make_world: Callable[[int], World], outbox: None
) -> None:
    """Same award id, connection id and event id in two installations: different keys, so a
    receiver shared by both (deduping on the webhook-id) does not drop the second one's."""
    world = make_world(1)
    world.connect("http://127.0.0.1:9/a")
    world.award(1)
    (before,) = world.deliveries()

    _empty(world.database)
    world = make_world(1)
    world.connect("http://127.0.0.1:9/a")
    world.award(1)
    (after,) = world.deliveries()

    assert (after.award_id, after.connection_id, after.event_id) == (
        before.award_id,
        before.connection_id,
        before.event_id,
    )
    assert after.idempotency_key != before.idempotency_key
    with world.database.read_session() as session:
        assert len(session.scalars(select(Installation)).all()) == 1


def test_the_key_is_stable_for_one_installation_across_restarts(
    make_world: Callable[[int], World], outbox: None
) -> None:
    world = make_world(1)
    connection_id = world.connect("http://127.0.0.1:9/a")
    (award_id,) = world.award(1)
    with world.database.read_session() as session:
        first_id = installation_id(session)

    restarted = Database(world.database.url)  # a new process: new engine, nothing cached
    try:
        with restarted.session() as session:
            assert installation_id(session) == first_id
            awards.revoke(
                session,
                session.get_one(Award, award_id),
                reason="issued in error",
                actor="admin:test",
            )
    finally:
        restarted.dispose()

    rows = world.deliveries()
    assert [d.sequence for d in rows] == [1, 2]
    for row in rows:  # both keys come from the one installation id
        assert row.idempotency_key == idempotency_key(row.event_id, connection_id, first_id)
    assert rows[0].idempotency_key != rows[1].idempotency_key


def test_many_awards_queue_their_deliveries_like_one_award_each(
    make_world: Callable[[int], World], outbox: None
) -> None:
    """``award_many`` goes through the listener's ``many`` hook: the same rows as ``award``."""
    world = make_world(4)
    first = world.connect("http://127.0.0.1:9/a", name="a")
    second = world.connect("http://127.0.0.1:9/b", name="b")
    with world.database.session() as session:
        made = awards.award_many(
            session,
            session.get_one(Achievement, world.achievement_id),
            [session.get_one(User, u) for u in world.learner_ids],
            source="manual",
            actor="admin:test",
        )
        installation = installation_id(session)
    award_ids = sorted(a.id for a, created in made if created)
    assert len(award_ids) == 4

    rows = world.deliveries()
    assert sorted((d.award_id, d.connection_id) for d in rows) == [
        (a, c) for a in award_ids for c in (first, second)
    ]
    for row in rows:
        assert (row.status, row.sequence, row.event_type) == (PENDING, 1, EventType.AWARDED)
        assert row.event_id == event_id(row.award_id, 1)
        assert row.idempotency_key == idempotency_key(row.event_id, row.connection_id, installation)
    assert len({d.idempotency_key for d in rows}) == 8
