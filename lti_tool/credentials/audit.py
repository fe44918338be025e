"""Writing the audit trail. The only operation is `record`: events are never changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lti_tool.models import AuditEvent, User, utcnow

SYSTEM = "system"


@dataclass(frozen=True)
class ActorRef:
    """Who did it: a user (`user:<id>`) or a labelled agent (`rule:7`, `api-client:3`)."""

    label: str
    user_id: int | None = None


Actor = User | ActorRef | str


def actor_ref(actor: Actor) -> ActorRef:
    if isinstance(actor, ActorRef):
        return actor
    if isinstance(actor, User):
        return ActorRef(f"user:{actor.id}", actor.id)
    if not actor or len(actor) > 255:
        raise ValueError("an actor label is 1 to 255 characters, e.g. 'rule:7' or 'system'")
    return ActorRef(actor)


def record(
    session: Session,
    *,
    platform_id: int,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: int,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    ref = actor_ref(actor)
    event = AuditEvent(
        platform_id=platform_id,
        actor=ref.label,
        actor_user_id=ref.user_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=reason,
        data=data or {},
        occurred_at=occurred_at or utcnow(),
    )
    session.add(event)
    return event
