"""The transactional outbox: award changes become delivery rows in the same transaction.

:data:`on_award_event` is an award listener (see ``lti_tool.credentials.awards``): it runs
inside the award's transaction, after the change is flushed and audited, and inserts one
``deliveries`` row per active-or-paused connection of the award's tenant whose connector
handles the event type. Nothing is sent here; the rows commit (or roll back) with the award
and workers pick them up afterwards. :func:`install` registers the listener; the app and the
CLI call it at start-up, the credentials domain never imports this module.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from connectors.base import EventType
from connectors.registry import Registry, RegistryError, default_registry
from lti_tool.models import Award, Connection, Delivery, utcnow
from lti_tool.models.sync import PENDING

from .installation import installation_id

log = logging.getLogger(__name__)

#: Award audit actions (lti_tool.credentials.awards) -> the event type sent to targets.
EVENT_TYPES: dict[str, EventType] = {
    "award.created": EventType.AWARDED,
    "award.revoked": EventType.REVOKED,
    "award.suspended": EventType.SUSPENDED,
    "award.reinstated": EventType.REINSTATED,
    "award.expired": EventType.EXPIRED,
    "award.updated": EventType.UPDATED,
}

Waker = Callable[[], None]
_wakers: list[Waker] = []
_WAKE_FLAG = "microcred.sync.wake"


def event_id(award_id: int, sequence: int) -> str:
    """The id of the event that took ``award_id`` to version ``sequence`` (stable)."""
    return f"award-{award_id}-v{sequence}"


def idempotency_key(event: str, connection_id: int, installation: str) -> str:
    """Unique per (installation, event, connection), the same on every retry and replay.

    HMAC-SHA256 keyed with the installation's random id (:mod:`lti_tool.sync.installation`
    says why that and not the secret key): event and connection ids restart at 1 in every
    database, so without it two installations (or a recreated database) sending to one
    target would reuse keys, and a receiver that dedupes on the ``webhook-id`` (or an LRS,
    statement id derived from it) would drop the new events. The key is computed once, when
    the delivery is queued, and stored: keys stored before this scheme are left as they are.
    """
    message = f"{event}|connection-{connection_id}".encode()
    return hmac.new(installation.encode(), message, hashlib.sha256).hexdigest()


def _handles(registry: Registry, connector: str, kind: EventType) -> bool:
    try:
        return str(kind) in registry.get(connector).capabilities
    except RegistryError:
        # Queue it anyway: the engine parks it with the reason, and a replay delivers it
        # once the plug-in is installed.
        return True


def enqueue(
    session: Session, award: Award, action: str, *, registry: Registry | None = None
) -> int:
    """Insert the deliveries for ``award``'s event ``action``; returns how many."""
    return enqueue_many(session, [award], action, registry=registry)


def enqueue_many(
    session: Session,
    batch: Sequence[Award],
    action: str,
    *,
    registry: Registry | None = None,
) -> int:
    """:func:`enqueue` for many awards of one event: one query for the connections of their
    tenants and one (executemany) insert for every delivery row. Returns how many."""
    kind = EVENT_TYPES.get(action)
    if kind is None or not batch:
        return 0
    registry = registry or default_registry
    targets: dict[int, list[int]] = {}
    for platform_id, connection_id, connector in session.execute(
        select(Connection.platform_id, Connection.id, Connection.connector)
        .where(
            Connection.platform_id.in_({a.platform_id for a in batch}),
            Connection.enabled.is_(True),
            Connection.disabled_reason.is_(None),
        )
        .order_by(Connection.id)
    ):
        if _handles(registry, connector, kind):
            targets.setdefault(platform_id, []).append(connection_id)
    if not targets:
        return 0
    installation = installation_id(session)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for award in batch:
        sequence = award.version
        evt = event_id(award.id, sequence)
        rows.extend(
            {
                "connection_id": connection_id,
                "award_id": award.id,
                "event_id": evt,
                "event_type": str(kind),
                "award_status": award.status,
                "occurred_at": now,
                "idempotency_key": idempotency_key(evt, connection_id, installation),
                "sequence": sequence,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for connection_id in targets.get(award.platform_id, ())
        )
    if rows:
        session.execute(insert(Delivery), rows)
        if _wakers and not session.info.get(_WAKE_FLAG):
            session.info[_WAKE_FLAG] = True
            sa_event.listen(session, "after_commit", _wake_all, once=True)
    return len(rows)


class _Listener:
    """The award listener (signature of ``awards.AwardListener``), with the ``many`` hook
    ``awards.award_many`` calls for a batch of awards of one event."""

    def __call__(self, session: Session, award: Award, action: str) -> None:
        enqueue_many(session, [award], action)

    def many(self, session: Session, batch: Sequence[Award], action: str) -> None:
        enqueue_many(session, batch, action)


on_award_event = _Listener()


def _wake_all(session: Session) -> None:
    session.info.pop(_WAKE_FLAG, None)
    for wake in list(_wakers):
        wake()


def add_waker(wake: Waker) -> None:
    """Call ``wake`` after a transaction that queued deliveries commits (in-process runner)."""
    if wake not in _wakers:
        _wakers.append(wake)


def remove_waker(wake: Waker) -> None:
    if wake in _wakers:
        _wakers.remove(wake)


def install() -> None:
    """Register the outbox listener on the award domain (idempotent)."""
    from lti_tool.credentials import awards

    if on_award_event not in awards.award_listeners:
        awards.award_listeners.append(on_award_event)


def uninstall() -> None:
    from lti_tool.credentials import awards

    if on_award_event in awards.award_listeners:
        awards.award_listeners.remove(on_award_event)
