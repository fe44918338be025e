"""A Celery task carries several delivery ids: claimed together, recorded together, and the
ids it cannot claim are handed back to the sweeper. Runs the task function in-process
against the real engine and receiver (the real-worker tests are in test_celery.py)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from lti_tool.models import Connection, Delivery, DeliveryAttempt, utcnow
from lti_tool.models.sync import DELIVERED, IN_FLIGHT, PENDING
from lti_tool.sync import celery_app
from lti_tool.sync.engine import Engine

from .conftest import Receiver, World


@pytest.fixture
def task_engine(engine: Engine) -> Iterator[Engine]:
    """The engine the task function uses in this process (normally built from settings)."""
    before = celery_app._engine
    celery_app._engine = (os.getpid(), engine)
    yield engine
    celery_app._engine = before


def test_one_task_delivers_its_batch_and_hands_back_what_it_cannot_claim(
    make_world: Callable[[int], World], task_engine: Engine, receiver: Receiver
) -> None:
    world = make_world(4)
    world.connect(receiver.url)
    world.award(3)
    queued = task_engine.sweep()
    assert len(queued) == 3
    world.award(4)  # the 4th learner's delivery: due, but not queued yet
    (extra,) = [d.id for d in world.deliveries() if d.id not in queued]
    # A second message for one of them (duplicate) and one for an already-leased row.
    held = task_engine.claim("someone-else", 1, ids=[extra])
    assert [job.delivery_id for job in held] == [extra]

    answer = celery_app.deliver([*queued, extra])

    assert answer == ", ".join(f"{i}: {DELIVERED}" for i in queued)
    assert sorted(int(a.award_id) for a in receiver.applied) == sorted(
        d.award_id for d in world.deliveries() if d.id in queued
    )
    with world.database.read_session() as session:
        attempts = session.execute(select(DeliveryAttempt.delivery_id, DeliveryAttempt.worker))
        workers = {delivery_id: worker for delivery_id, worker in attempts}
        leased = session.get_one(Delivery, extra)
        assert leased.lease_owner == "someone-else"  # left alone
    assert sorted(workers) == sorted(queued)
    assert len(set(workers.values())) == 1  # one task, one claim

    assert celery_app.deliver(list(queued)) == "skipped"  # a duplicate message: a no-op
    assert len(receiver.applied) == 3 and receiver.duplicates == 0


def test_ids_a_task_cannot_claim_are_unqueued_for_the_next_sweep(
    make_world: Callable[[int], World], task_engine: Engine, receiver: Receiver
) -> None:
    world = make_world(2)
    world.connect(receiver.url, rate_limit_per_minute=1)  # one token: one delivery now
    world.award(2)
    queued = task_engine.sweep()
    assert len(queued) == 2

    answer = celery_app.deliver(queued)

    assert answer == f"{queued[0]}: {DELIVERED}"
    rest = {d.id: d for d in world.deliveries()}[queued[1]]
    assert (rest.status, rest.lease_owner, rest.lease_until) == (PENDING, None, None)
    assert celery_app.deliver(queued[1]) == "skipped"  # a single-id message still works


def test_a_task_claims_by_id_only_what_a_polling_worker_could_claim(
    make_world: Callable[[int], World], task_engine: Engine, receiver: Receiver
) -> None:
    world = make_world(3)
    hooks = world.connect(receiver.url)
    other = world.connect(receiver.url, name="other")
    world.award(1, revoke=True)  # learner 0: the award and its revoke, on both connections
    dataclasses.replace(world, learner_ids=world.learner_ids[1:]).award(2)  # learners 1, 2
    rows = {(d.connection_id, d.award_id, d.sequence): d.id for d in world.deliveries()}
    first, second, third = sorted({award_id for _, award_id, _ in rows})
    later = rows[(hooks, second, 1)]
    dead_worker = rows[(hooks, third, 1)]
    now = utcnow()
    with world.database.session() as session:
        session.execute(update(Connection).where(Connection.id == other).values(paused=True))
        session.execute(
            update(Delivery)
            .where(Delivery.id == later)
            .values(next_attempt_at=now + timedelta(minutes=5))
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == dead_worker)
            .values(
                status=IN_FLIGHT, lease_owner="dead-worker", lease_until=now - timedelta(seconds=1)
            )
        )

    jobs = task_engine.claim("task", len(rows), ids=list(rows.values()))

    # Not the revoke (its award is still open), nothing of the paused connection, not the
    # delivery due later; the one whose worker died is taken over.
    assert sorted(job.delivery_id for job in jobs) == sorted([rows[(hooks, first, 1)], dead_worker])
    assert task_engine.claim("task-2", len(rows), ids=list(rows.values())) == []
