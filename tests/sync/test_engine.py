"""The delivery engine against a real Standard Webhooks receiver, with faults."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update

from connectors.base import EventType
from lti_tool.db import Database
from lti_tool.models import Connection, Delivery, DeliveryAttempt, User, utcnow
from lti_tool.models.sync import DEAD, DELIVERED, PENDING
from lti_tool.settings import Settings
from lti_tool.sync.engine import SCHEDULE, Engine, replay, resume, retry_delay
from lti_tool.sync.runner import EmbeddedRunner

from .conftest import OTHER_SECRET, Receiver, World, drain, wait_for


@pytest.fixture
def runners() -> Iterator[list[EmbeddedRunner]]:
    started: list[EmbeddedRunner] = []
    yield started
    for runner in started:
        runner.stop()


def test_retry_delay_follows_the_schedule_with_jitter() -> None:
    rng = random.Random(1)
    for n, base in enumerate(SCHEDULE):
        delay = retry_delay(n, rng=rng)
        assert delay is not None
        assert base * 0.8 <= delay <= base * 1.2
    assert retry_delay(len(SCHEDULE)) is None
    assert retry_delay(1, scale=0.001, retry_after=30) == 30  # Retry-After wins when longer
    assert retry_delay(2, retry_after=1) >= 240  # type: ignore[operator]
    assert retry_delay(1, scale=1e-6, retry_after=10**9) == 86400  # capped at a day


def test_delivers_a_signed_event_once(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(2)
    world.connect(receiver.url)
    ids = world.award(2)
    drain(engine, world)
    assert sorted(int(a.award_id) for a in receiver.applied) == sorted(ids)
    assert receiver.duplicates == 0
    for row in world.deliveries():
        assert (row.status, row.attempts, row.last_status_code) == (DELIVERED, 1, 204)
        assert row.lease_owner is None
    with world.database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryAttempt)) == 2


def test_a_revoke_is_never_delivered_before_its_award(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(5)
    world.connect(receiver.url)
    world.award(5, revoke=True)  # award + revoke committed before anything is sent
    # While the awards are open, only they can be claimed, never their revokes.
    jobs = engine.claim("probe", limit=20)
    with world.database.read_session() as session:
        claimed = session.scalars(
            select(Delivery.event_type).where(Delivery.id.in_([j.delivery_id for j in jobs]))
        ).all()
    assert sorted(claimed) == [EventType.AWARDED] * 5
    assert engine.claim("probe-2", limit=20) == []  # awards in flight: revokes still held
    with world.database.session() as session:  # the probe "crashes": leases run out
        session.execute(update(Delivery).values(lease_until=utcnow() - timedelta(seconds=1)))
    receiver.fail_ratio = 0.5
    drain(engine, world)
    assert world.count(DELIVERED) == 10, [(d.status, d.last_detail) for d in world.deliveries()]
    order: dict[str, list[str]] = {}
    for applied in receiver.applied:
        order.setdefault(applied.award_id, []).append(applied.type)
    assert all(types == [EventType.AWARDED, EventType.REVOKED] for types in order.values())
    assert len(order) == 5


def test_unauthorized_pauses_the_connection_until_resumed(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(1)
    connection_id = world.connect(receiver.url, secret=OTHER_SECRET)
    world.award(1)
    with requests.Session() as http:
        assert engine.step("w", http) == 1
        assert engine.step("w", http) == 0  # paused: nothing is claimed
    (row,) = world.deliveries()
    assert (row.status, row.attempts, row.last_status_code) == (PENDING, 0, 401)
    with world.database.session() as session:
        connection = session.get_one(Connection, connection_id)
        assert connection.paused and connection.state == "paused"
        assert "refused our credentials" in (connection.pause_reason or "")
        receiver.secrets.append(OTHER_SECRET)  # the admin fixes the receiver's secret
        resume(session, connection)
    drain(engine, world)
    (row,) = world.deliveries()
    assert row.status == DELIVERED
    assert len(receiver.applied) == 1


def test_rejected_goes_straight_to_dead(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(1)
    world.connect(receiver.url)
    receiver.mode = 422
    world.award(1)
    drain(engine, world)
    (row,) = world.deliveries()
    assert (row.status, row.attempts, row.last_outcome, row.last_status_code) == (
        DEAD,
        1,
        "rejected",
        422,
    )


def test_receiver_down_for_the_whole_schedule_then_replay_delivers_all(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(4)
    connection_id = world.connect(receiver.url, timeout=1.0)
    receiver.mode = "drop"
    world.award(4)
    drain(engine, world, timeout=30)
    rows = world.deliveries()
    assert {r.status for r in rows} == {DEAD}
    assert {r.attempts for r in rows} == {len(SCHEDULE)}
    assert all("retry schedule exhausted" in (r.last_detail or "") for r in rows)
    with world.database.read_session() as session:
        connection = session.get_one(Connection, connection_id)
        assert connection.failing_since is not None and connection.disabled_reason is None

    receiver.mode = "ok"
    with world.database.session() as session:
        assert replay(session, connection_id=connection_id) == 4
    drain(engine, world)
    assert world.count(DELIVERED) == 4
    assert len(receiver.applied) == 4 and receiver.duplicates == 0
    with world.database.read_session() as session:
        tries = session.scalar(select(func.count()).select_from(DeliveryAttempt))
        assert tries == 4 * (len(SCHEDULE) + 1)  # the log keeps the dead letters' tries
        assert session.get_one(Connection, connection_id).failing_since is None


def test_a_receiver_failing_20_percent_gets_everything_exactly_once(
    make_world: Callable[[int], World],
    engine: Engine,
    receiver: Receiver,
    runners: list[EmbeddedRunner],
) -> None:
    world = make_world(60)
    world.connect(receiver.url)
    receiver.fail_ratio = 0.2
    runners.append(EmbeddedRunner(engine, threads=2, poll_interval=0.05).start())
    world.award(60)
    wait_for(lambda: world.count(DELIVERED) == 60, what="60 deliveries")
    assert len(receiver.applied) == 60
    assert len({a.msg_id for a in receiver.applied}) == 60
    assert receiver.duplicates == 0
    assert len(receiver.seen) > 60  # there were failures, and they were retried


def test_two_workers_racing_never_send_one_delivery_twice(
    make_world: Callable[[int], World],
    database: Database,
    sync_settings: Settings,
    engine: Engine,
    receiver: Receiver,
    runners: list[EmbeddedRunner],
) -> None:
    world = make_world(40)
    world.connect(receiver.url)
    receiver.delay = 0.01
    world.award(40)
    other = Engine(database, sync_settings)
    runners.append(EmbeddedRunner(engine, threads=3, poll_interval=0.02).start())
    runners.append(EmbeddedRunner(other, threads=3, poll_interval=0.02).start())
    wait_for(lambda: world.count(DELIVERED) == 40, what="40 deliveries")
    assert receiver.concurrent == 0
    assert len(receiver.seen) == 40 == len(set(receiver.seen))
    with world.database.read_session() as session:
        workers = set(session.scalars(select(DeliveryAttempt.worker)))
    assert len(workers) > 1


def test_a_lost_lease_is_logged_but_not_applied(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(1)
    world.connect(receiver.url)
    world.award(1)
    (slow,) = engine.claim("slow-worker")
    with world.database.session() as session:  # the lease runs out while it works
        session.execute(update(Delivery).values(lease_until=utcnow() - timedelta(seconds=1)))
    (fast,) = engine.claim("fast-worker")
    assert fast.delivery_id == slow.delivery_id
    with requests.Session() as http:
        assert engine.process(fast, http) == DELIVERED
        assert engine.process(slow, http) == "lost"
    (row,) = world.deliveries()
    assert row.status == DELIVERED and row.attempts == 2
    assert len(receiver.applied) == 1 and receiver.duplicates == 1
    with world.database.read_session() as session:
        applied = session.scalars(
            select(DeliveryAttempt.applied).order_by(DeliveryAttempt.id)
        ).all()
    assert applied == [True, False]


def test_the_rate_limit_holds_deliveries_back(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(5)
    world.connect(receiver.url, rate_limit_per_minute=3)
    world.award(5)
    with requests.Session() as http:
        assert engine.step("w", http, limit=10) == 3
        assert engine.step("w", http, limit=10) == 0
    assert world.count(DELIVERED) == 3
    with world.database.session() as session:  # 40 s later the bucket has 2 tokens again
        session.execute(
            update(Connection).values(bucket_updated_at=utcnow() - timedelta(seconds=40))
        )
    with requests.Session() as http:
        assert engine.step("w", http, limit=10) == 2


def test_a_connection_failing_for_days_is_disabled(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(1)
    connection_id = world.connect(receiver.url)
    receiver.mode = 503
    with world.database.session() as session:
        session.execute(
            update(Connection).values(failing_since=utcnow() - timedelta(days=5, seconds=1))
        )
    world.award(1)
    with requests.Session() as http:
        assert engine.step("w", http) == 1
    with world.database.read_session() as session:
        connection = session.get_one(Connection, connection_id)
        assert connection.state == "disabled"
        assert "disabled automatically" in (connection.disabled_reason or "")
    assert engine.claim("w") == []  # a disabled connection gets nothing
    (row,) = world.deliveries()
    assert row.status == PENDING  # kept for when an admin resumes it
    world.award(2)  # and no deliveries are queued for it any more
    assert world.count() == 1


def test_a_learner_without_the_mapped_identifier_is_dead_lettered(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(1)
    world.connect(receiver.url, identity_mapping="hr_id:employee_id")
    world.award(1)
    drain(engine, world)
    (row,) = world.deliveries()
    assert row.status == DEAD
    assert "employee_id" in (row.last_detail or "")
    assert receiver.seen == []
    with world.database.session() as session:
        session.execute(update(User).values(hr_ids={"employee_id": "E-7"}))
        assert replay(session) == 1
    drain(engine, world)
    assert world.count(DELIVERED) == 1
    assert receiver.applied[0].type == EventType.AWARDED
