"""The append-only audit trail of credential changes.

Rows are only ever inserted: the ORM refuses updates and deletes of loaded rows (below),
`lti_tool.credentials.audit` offers no other path, and migration 0003 adds a database
trigger that rejects UPDATE. Deleting a tenant still removes its events (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from .base import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "platform_id", "occurred_at"),
        Index(None, "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    # Plain ids, no foreign keys: the trail outlives the users and rows it mentions.
    actor_user_id: Mapped[int | None] = mapped_column(default=None)
    actor: Mapped[str] = mapped_column(String(255))  # user:<id> | rule:<id> | system | ...
    action: Mapped[str] = mapped_column(String(64))  # award.created, achievement.archived, ...
    subject_type: Mapped[str] = mapped_column(String(32))  # award | achievement | pathway
    subject_id: Mapped[int]
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEventImmutable(Exception):
    """Something tried to change or delete an audit event."""


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(_mapper: Mapper[Any], _connection: Connection, target: AuditEvent) -> None:
    raise AuditEventImmutable(f"audit event {target.id} is append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(_mapper: Mapper[Any], _connection: Connection, target: AuditEvent) -> None:
    raise AuditEventImmutable(f"audit event {target.id} is append-only")
