"""Sync to external systems: connections (a tenant's configured use of a connector), the
deliveries of award events to them (the transactional outbox), and every attempt made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, CreatedAtMixin, utcnow

# Delivery states.
PENDING = "pending"
IN_FLIGHT = "in_flight"
DELIVERED = "delivered"
DEAD = "dead"
CANCELLED = "cancelled"
DELIVERY_STATUSES = (PENDING, IN_FLIGHT, DELIVERED, DEAD, CANCELLED)
#: A delivery in one of these states still blocks later events of its award (ordering).
OPEN_STATUSES = (PENDING, IN_FLIGHT)

# Identity mapping modes: which learner identifier the target needs.
MAPPING_EMAIL = "email"
MAPPING_LTI_SUB = "lti_sub"
MAPPING_HR_ID_PREFIX = "hr_id:"
MAPPING_TABLE = "table"


class Connection(CreatedAtMixin, Base):
    """One configured use of a connector by one tenant.

    ``settings`` holds the connector's non-secret settings; ``secrets_encrypted`` the secret
    ones as a SecretBox token of a JSON object. A connection is *active* when ``enabled``
    (the admin's switch), not ``paused`` (set when the target refuses our credentials) and
    not auto-disabled (``disabled_reason``, set after failing for days). Deliveries queue up
    while a connection is paused; none are created for a disabled one.
    """

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("platform_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    connector: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # email | lti_sub | hr_id:<key> | table (identity_mappings rows)
    identity_mapping: Mapped[str] = mapped_column(String(80), default=MAPPING_LTI_SUB)
    enabled: Mapped[bool] = mapped_column(default=True)
    paused: Mapped[bool] = mapped_column(default=False)
    pause_reason: Mapped[str | None] = mapped_column(Text, default=None)
    failing_since: Mapped[datetime | None] = mapped_column(default=None)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # None: no limit. The token bucket (capacity = the per-minute rate) lives in the row.
    rate_limit_per_minute: Mapped[int | None] = mapped_column(default=None)
    bucket_tokens: Mapped[float | None] = mapped_column(default=None)
    bucket_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def active(self) -> bool:
        return self.enabled and not self.paused and self.disabled_reason is None

    @property
    def state(self) -> str:
        if not self.enabled:
            return "off"
        if self.disabled_reason is not None:
            return "disabled"
        if self.paused:
            return "paused"
        return "failing" if self.failing_since is not None else "ok"


class Delivery(CreatedAtMixin, Base):
    """One award event to deliver to one connection: the source of truth of the sync.

    ``idempotency_key`` is stable for (event, connection) and sent on every try (the
    ``webhook-id``, the xAPI statement id seed). ``sequence`` is the award's version after
    the event; a delivery is not claimed while an earlier one of the same award on the same
    connection is still open. ``attempts`` counts tries on the retry schedule (the
    ``delivery_attempts`` log keeps every try, also across replays).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "connection_id", "award_id", "sequence"),
        Index(None, "award_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))  # connectors.base.EventType value
    award_status: Mapped[str] = mapped_column(String(16))  # the award's status after the event
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    sequence: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    last_detail: Mapped[str | None] = mapped_column(Text, default=None)
    external_id: Mapped[str | None] = mapped_column(String(512), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    connection: Mapped[Connection] = relationship()


class DeliveryAttempt(Base):
    """One try of one delivery (kept across replays)."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    worker: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(default=None)
    detail: Mapped[str] = mapped_column(Text, default="")
    # Whether this try's result was recorded on the delivery (False: the lease was lost).
    applied: Mapped[bool] = mapped_column(default=True)


class IdentityMapping(Base):
    """A learner's identifier in a connection's target, from an uploaded CSV (mode `table`)."""

    __tablename__ = "identity_mappings"
    __table_args__ = (UniqueConstraint("connection_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    sub: Mapped[str] = mapped_column(String(255))  # the LTI sub of the learner
    external_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
