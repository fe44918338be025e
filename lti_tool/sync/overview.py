"""What an administrator sees of the sync of one tenant: connections with their delivery
counts and last error, deliveries per connection and state, one delivery's attempts.

Every query takes the tenant (``platform_id``) and never returns another tenant's rows.
Read-only; the admin pages and tests call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.models import Connection, Delivery, DeliveryAttempt
from lti_tool.models.sync import DELIVERED, DELIVERY_STATUSES


@dataclass(frozen=True)
class LastError:
    at: datetime
    outcome: str
    status_code: int | None
    detail: str


@dataclass(frozen=True)
class ConnectionSummary:
    connection: Connection
    counts: dict[str, int]
    last_error: LastError | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def tenant_connection(session: Session, platform_id: int, connection_id: int) -> Connection | None:
    return session.scalars(
        select(Connection).where(
            Connection.id == connection_id, Connection.platform_id == platform_id
        )
    ).one_or_none()


def tenant_delivery(session: Session, platform_id: int, delivery_id: int) -> Delivery | None:
    return session.scalars(
        select(Delivery)
        .join(Connection, Connection.id == Delivery.connection_id)
        .where(Delivery.id == delivery_id, Connection.platform_id == platform_id)
    ).one_or_none()


def counts_by_status(session: Session, connection_ids: list[int]) -> dict[int, dict[str, int]]:
    """{connection id: {status: count}} with every status present (zero when none)."""
    counts = {cid: dict.fromkeys(DELIVERY_STATUSES, 0) for cid in connection_ids}
    if connection_ids:
        rows = session.execute(
            select(Delivery.connection_id, Delivery.status, func.count())
            .where(Delivery.connection_id.in_(connection_ids))
            .group_by(Delivery.connection_id, Delivery.status)
        )
        for connection_id, status, count in rows:
            counts[connection_id][status] = count
    return counts


def last_error(session: Session, connection_id: int) -> LastError | None:
    """The most recent attempt of the connection that did not deliver."""
    row = session.execute(
        select(
            DeliveryAttempt.finished_at,
            DeliveryAttempt.outcome,
            DeliveryAttempt.status_code,
            DeliveryAttempt.detail,
        )
        .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        .where(Delivery.connection_id == connection_id, DeliveryAttempt.outcome != DELIVERED)
        .order_by(DeliveryAttempt.finished_at.desc(), DeliveryAttempt.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return LastError(row.finished_at, row.outcome, row.status_code, row.detail)


def connection_summaries(session: Session, platform_id: int) -> list[ConnectionSummary]:
    connections = list(
        session.scalars(
            select(Connection)
            .where(Connection.platform_id == platform_id)
            .order_by(Connection.name)
        )
    )
    counts = counts_by_status(session, [c.id for c in connections])
    return [ConnectionSummary(c, counts[c.id], last_error(session, c.id)) for c in connections]


def deliveries(
    session: Session, connection_id: int, status: str | None, *, page: int, per_page: int
) -> tuple[list[Delivery], int]:
    """One page of a connection's deliveries (newest first) and how many there are."""
    conditions = [Delivery.connection_id == connection_id]
    if status is not None:
        conditions.append(Delivery.status == status)
    total = int(session.scalar(select(func.count()).select_from(Delivery).where(*conditions)) or 0)
    rows = list(
        session.scalars(
            select(Delivery)
            .where(*conditions)
            .order_by(Delivery.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return rows, total


def attempts(session: Session, delivery_id: int) -> list[DeliveryAttempt]:
    return list(
        session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.id)
        )
    )
