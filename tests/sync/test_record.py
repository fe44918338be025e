"""Recording a batch of outcomes in one transaction: each applied only under its lease."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, func, select, update

from connectors.base import Outcome, Result
from lti_tool.models import Award, Delivery, DeliveryAttempt
from lti_tool.models.sync import DEAD, DELIVERED, PENDING
from lti_tool.sync.engine import Attempted, Engine

from .conftest import Receiver, World


def test_a_batch_of_outcomes_is_recorded_together_each_under_its_lease(
    make_world: Callable[[int], World], engine: Engine, receiver: Receiver
) -> None:
    world = make_world(5)
    world.connect(receiver.url)
    world.award(5)
    jobs = engine.claim("w1", limit=5)
    assert len(jobs) == 5
    stolen, gone, ok, failed, refused = jobs
    with world.database.session() as session:  # another worker took one over
        session.execute(
            update(Delivery).where(Delivery.id == stolen.delivery_id).values(lease_owner="w2")
        )
        award_id = session.get_one(Delivery, gone.delivery_id).award_id
        session.execute(delete(Award).where(Award.id == award_id))  # cascades
    statuses = engine.record_many(
        [
            Attempted(stolen, Result(Outcome.DELIVERED, status_code=204)),
            Attempted(gone, Result(Outcome.DELIVERED, status_code=204)),
            Attempted(ok, Result(Outcome.DELIVERED, external_id="x-1", status_code=204)),
            Attempted(failed, Result(Outcome.RETRY, status_code=503, retry_after=2)),
            Attempted(refused, Result(Outcome.REJECTED, status_code=422, detail="bad")),
        ]
    )
    assert statuses == ["lost", "gone", DELIVERED, PENDING, DEAD]
    with world.database.read_session() as session:
        attempts = session.scalar(select(func.count()).select_from(DeliveryAttempt))
        applied = set(session.scalars(select(DeliveryAttempt.applied)))
    rows = {d.id: d for d in world.deliveries()}
    assert attempts == 4 and applied == {True, False}  # the lost one is logged, not applied
    assert rows[stolen.delivery_id].lease_owner == "w2"  # untouched
    assert rows[ok.delivery_id].external_id == "x-1"
    assert rows[ok.delivery_id].lease_owner is None
    retry = rows[failed.delivery_id]
    assert (retry.last_status_code, retry.attempts) == (503, 1)
    assert (retry.next_attempt_at - retry.updated_at).total_seconds() >= 2  # Retry-After
    assert rows[refused.delivery_id].last_detail == "bad"
