"""The connector contract: the plain data a connector receives and the outcome it returns.

A connector turns one award event into calls on one target system (a webhook receiver, an
LRS, an HR suite). It imports nothing from the Flask application or the database: the sync
engine builds an :class:`AwardEvent` from its rows, calls :meth:`Connector.push` or
:meth:`Connector.revoke` (see :func:`deliver`), and records the :class:`Result`. Connectors
never sleep, retry, commit or log secrets; retries, backoff and dead-lettering belong to the
engine, which reads ``Result.outcome`` and ``Result.retry_after``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar

import requests
from marshmallow import Schema

from connectors.settings import load_settings, redact, secret_values


class EventType(enum.StrEnum):
    """What happened to an award. The value is the event type sent to targets."""

    AWARDED = "credential.awarded"
    REVOKED = "credential.revoked"
    SUSPENDED = "credential.suspended"
    REINSTATED = "credential.reinstated"
    EXPIRED = "credential.expired"
    UPDATED = "credential.updated"


#: Event types delivered through :meth:`Connector.revoke`; every other type goes to ``push``.
WITHDRAWING_EVENTS: frozenset[EventType] = frozenset(
    {EventType.REVOKED, EventType.SUSPENDED, EventType.EXPIRED}
)
PUSHED_EVENTS: frozenset[EventType] = frozenset(EventType) - WITHDRAWING_EVENTS


class AwardStatus(enum.StrEnum):
    """The award's state after the event."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Outcome(enum.StrEnum):
    """How a delivery attempt ended, from the sync engine's point of view."""

    DELIVERED = "delivered"  # the target has it; never send it again
    RETRY = "retry"  # transient: try again later (after ``retry_after`` seconds if given)
    REJECTED = "rejected"  # permanent: the target refuses this payload; dead-letter it
    UNAUTHORIZED = "unauthorized"  # credentials refused: refresh or fix them, then retry


@dataclass(frozen=True, slots=True)
class Result:
    """What one connector call produced.

    ``external_id`` is the target's id for the record this call created (an xAPI statement
    id, an HR system's certification id), if the target has one. ``detail`` is a short,
    human-readable reason for admins; it never contains secrets. ``status_code`` is the last
    HTTP status seen, if any. ``retry_after`` (seconds) is only meaningful with ``RETRY``.
    """

    outcome: Outcome
    external_id: str | None = None
    detail: str = ""
    retry_after: float | None = None
    status_code: int | None = None

    def __post_init__(self) -> None:
        if self.retry_after is not None:
            if self.outcome is not Outcome.RETRY:
                raise ValueError("retry_after is only allowed with Outcome.RETRY")
            if self.retry_after < 0:
                raise ValueError("retry_after must not be negative")

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z`` suffix (``None`` stays ``None``)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _require_aware(owner: str, name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{owner}.{name} must be timezone-aware, got a naive datetime")


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class Learner:
    """The award's recipient as the LMS identifies them.

    ``platform_issuer`` and ``sub`` are the LTI ``iss`` and ``sub`` claims. ``hr_ids`` maps an
    identifier scheme (``employee_id``, ``workday_wid``, ...) to this learner's value.
    """

    platform_issuer: str
    sub: str
    name: str | None = None
    email: str | None = None
    hr_ids: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.platform_issuer or not self.sub:
            raise ValueError("Learner needs a platform_issuer and a sub")
        object.__setattr__(self, "hr_ids", _frozen_mapping(self.hr_ids))


@dataclass(frozen=True, slots=True)
class Alignment:
    """An OB 3.0 alignment: a framework item (skill, competency) the achievement targets."""

    target_name: str
    target_url: str
    target_description: str | None = None
    target_framework: str | None = None
    target_code: str | None = None
    target_type: str | None = None


@dataclass(frozen=True, slots=True)
class Achievement:
    """The OB 3.0 Achievement awarded. ``id`` is its public URL."""

    id: str
    name: str
    description: str = ""
    criteria_narrative: str | None = None
    criteria_url: str | None = None
    image_url: str | None = None
    alignments: tuple[Alignment, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "alignments", tuple(self.alignments))
        object.__setattr__(self, "tags", tuple(self.tags))


@dataclass(frozen=True, slots=True)
class Score:
    """The learner's result, when the award came from a graded activity."""

    raw: float | None = None
    min: float | None = None
    max: float | None = None
    scaled: float | None = None  # -1..1, as xAPI and LTI AGS define it
    passed: bool | None = None


@dataclass(frozen=True, slots=True)
class AwardEvent:
    """One thing that happened to one award, as delivered to one connection.

    ``idempotency_key`` is unique per (event, connection) and identical on every retry; it is
    the ``webhook-id``, the source of the xAPI statement id, or the remote external id.
    ``sequence`` increases with every event of the same award, so receivers can ignore stale
    ones. ``external_id`` is what this connection's target returned for the award's most
    recent delivered push (``None`` if it never received one); connectors that must address
    an earlier record (void a statement, update a certification) use it.
    ``credential`` is the signed OB 3.0 credential (a JSON object) or ``None``; treat it as
    read-only.
    """

    event_id: str
    type: EventType
    idempotency_key: str
    sequence: int
    award_id: str
    status: AwardStatus
    issued_at: datetime
    occurred_at: datetime
    learner: Learner
    achievement: Achievement
    verification_url: str
    expires_at: datetime | None = None
    credential: Mapping[str, Any] | None = None
    score: Score | None = None
    external_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", EventType(self.type))
        object.__setattr__(self, "status", AwardStatus(self.status))
        if not self.idempotency_key:
            raise ValueError("AwardEvent.idempotency_key must not be empty")
        if self.sequence < 0:
            raise ValueError("AwardEvent.sequence must not be negative")
        for name in ("issued_at", "occurred_at", "expires_at"):
            _require_aware("AwardEvent", name, getattr(self, name))


class Connector(ABC):
    """Base class of every connector; third-party ones subclass it too.

    Class attributes:

    ``key``
        The connector's name; must equal its ``microcred.connectors`` entry-point name.
    ``capabilities``
        What it can deliver: the :class:`EventType` values it handles (the engine creates
        no delivery for other event types), plus free-form feature flags.
    ``settings_schema``
        A marshmallow schema for the connection's settings; secret fields carry
        ``metadata={"secret": True}`` (see :mod:`connectors.settings`).

    The constructor validates ``settings`` (stored in the clear) merged with ``secrets``
    (resolved by the engine) and keeps the result in ``self.settings``. Every request must
    go through the injected ``session`` with an explicit timeout.
    """

    key: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]
    settings_schema: ClassVar[type[Schema]]

    def __init__(
        self,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        session: requests.Session,
    ) -> None:
        self.settings: Mapping[str, Any] = MappingProxyType(
            load_settings(self.settings_schema, settings, secrets)
        )
        self.session = session

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret string this connector holds, for scrubbing text before it leaves."""
        return secret_values(self.settings_schema, self.settings)

    def __repr__(self) -> str:
        shown = redact(self.settings_schema, self.settings)
        return f"<{type(self).__name__} key={self.key!r} settings={shown!r}>"

    @abstractmethod
    def check(self) -> Result:
        """Test the connection (reachability, credentials) without creating award records."""

    @abstractmethod
    def push(self, event: AwardEvent) -> Result:
        """Deliver an award or a change to it (the event types in ``PUSHED_EVENTS``)."""

    @abstractmethod
    def revoke(self, event: AwardEvent) -> Result:
        """Withdraw an award on the target (the event types in ``WITHDRAWING_EVENTS``)."""

    def unsupported(self, event: AwardEvent, method: str) -> Result | None:
        """``REJECTED`` when ``method`` is the wrong entry point or a capability is missing."""
        expected = "revoke" if event.type in WITHDRAWING_EVENTS else "push"
        if method != expected:
            return Result(
                Outcome.REJECTED, detail=f"{event.type} goes to {expected}(), not {method}()"
            )
        if event.type not in self.capabilities:
            return Result(Outcome.REJECTED, detail=f"{self.key} does not deliver {event.type}")
        return None


def deliver(connector: Connector, event: AwardEvent) -> Result:
    """Route ``event`` to ``push`` or ``revoke``: the one place that decides which."""
    if event.type in WITHDRAWING_EVENTS:
        return connector.revoke(event)
    return connector.push(event)
