"""The delivery engine: claim due deliveries, call the connector, record the outcome.

One attempt is three steps and never holds a database transaction across the HTTP call:

1. :meth:`Engine.claim` (a short write transaction) leases due rows: PostgreSQL selects them
   ``FOR UPDATE SKIP LOCKED``; SQLite's ``BEGIN IMMEDIATE`` already serialises claimers. A
   row is due when it is pending (or in flight with an expired lease, i.e. its worker died),
   its ``next_attempt_at`` has passed, its connection is active, no earlier event of the
   same award on the same connection is still open (a revoke never overtakes its award),
   and the connection's token bucket has a token.
2. :meth:`Engine.prepare` reads the award in a read-only session and builds the plain
   :class:`connectors.base.AwardEvent`; :func:`connectors.base.deliver` then runs with no
   transaction open.
3. :meth:`Engine.record_many` (one short write transaction for the batch's outcomes) logs
   the attempts and applies each outcome, but only if this worker still holds its lease.

Outcomes: ``delivered`` -> done (external id kept); ``retry`` -> the Standard Webhooks
senders' schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) with +-20 %
jitter, at least ``Retry-After``, then ``dead``; ``rejected`` -> ``dead`` at once;
``unauthorized`` -> the connection is paused with a reason and the delivery waits, its
attempt not counted. A connection failing continuously for ``sync_disable_after`` seconds
(5 days) is disabled with a reason. Dead deliveries come back with :func:`replay`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import requests
from sqlalchemy import Integer, Select, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased, selectinload

from connectors.base import (
    Achievement as EventAchievement,
)
from connectors.base import (
    Alignment,
    AwardEvent,
    Connector,
    Learner,
    Outcome,
    Result,
    Score,
    deliver,
)
from connectors.registry import Registry, RegistryError, default_registry
from connectors.settings import SettingsError as ConnectorSettingsError
from connectors.settings import secret_values
from lti_tool.db import Database
from lti_tool.models import (
    Achievement,
    Award,
    Connection,
    Delivery,
    DeliveryAttempt,
    IdentityMapping,
    Platform,
    User,
    utcnow,
)
from lti_tool.models.sync import (
    DEAD,
    DELIVERED,
    IN_FLIGHT,
    MAPPING_EMAIL,
    MAPPING_HR_ID_PREFIX,
    MAPPING_LTI_SUB,
    MAPPING_TABLE,
    OPEN_STATUSES,
    PENDING,
)
from lti_tool.secretbox import SecretBox, SecretBoxError
from lti_tool.settings import Settings

from .credentials import CredentialSource, StoredCredential, StoredCredentials

log = logging.getLogger(__name__)

#: Seconds before attempt n+1 (index n = attempts made so far): the Standard Webhooks
#: senders' schedule (docs.svix.com/retries). After the last one fails the delivery is dead.
SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2
MAX_RETRY_AFTER = 86400.0  # a target cannot push a delivery out by more than a day
DETAIL_LIMIT = 2000
QUEUED = "queued"  # lease_owner of a pending delivery whose id is on a task queue


class IdentityError(Exception):
    """The learner has no identifier of the kind the connection's mapping mode needs."""


def worker_name(suffix: str = "") -> str:
    base = f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"
    return f"{base}:{suffix}" if suffix else base


def retry_delay(
    attempts: int,
    *,
    scale: float = 1.0,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to wait after ``attempts`` failed tries, or None when the schedule is over."""
    if attempts >= len(SCHEDULE):
        return None
    base = SCHEDULE[attempts] * scale
    jitter = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    delay = base * jitter
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


@dataclass(frozen=True)
class Job:
    """A claimed delivery: what one worker does between claim and record."""

    delivery_id: int
    connection_id: int
    owner: str
    claimed_at: datetime


class Attempted(NamedTuple):
    """A claimed delivery after its connector call: what :meth:`Engine.record_many` logs."""

    job: Job
    result: Result
    pause: str | None = None


@dataclass(frozen=True)
class Prepared:
    """A job with the plain data its connector call needs (no ORM objects)."""

    job: Job
    connector: str
    settings: Mapping[str, Any]
    secrets: Mapping[str, Any]
    connection_version: datetime
    event: AwardEvent | None
    problem: Result | None = None  # set instead of ``event`` when it cannot be built
    pause: str | None = None  # pause the connection with this reason instead of sending


class Engine:
    """Claims, attempts and records deliveries; shared by every runner."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        registry: Registry | None = None,
        credentials: CredentialSource | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.registry = registry or default_registry
        # Load the plug-ins now, in one thread: Registry's lazy first load is not thread-safe
        # (a second thread can see it half-loaded and report "no connector").
        self.registry.all()
        # Loads the signed credentials stored at issuance (sync.credentials.StoredCredentials;
        # build_engine passes it). Without it events carry no credential.
        self.credentials = credentials
        self.box = SecretBox(settings.secret_key, settings.previous_secret_keys)
        self.rng = rng or random.Random()
        self._connectors: dict[tuple[int, int], tuple[datetime, Connector]] = {}
        self._connectors_lock = threading.Lock()
        self._statements: dict[str, Select[int, int]] = {}

    # -- 1. claim ---------------------------------------------------------------------------

    def _due(self, session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
        """Due deliveries (see the module docstring): (id, connection id), up to ``limit``.

        Two queries, so that each walks the (status, next_attempt_at) index in order instead
        of sorting every due row: in-flight rows whose lease expired (their worker died),
        then pending rows, oldest first.
        """
        rows = self._run_due(session, "expired", now, limit)
        if len(rows) < limit:
            rows.extend(self._run_due(session, "pending", now, limit - len(rows)))
        return rows

    def _due_among(
        self, session: Session, now: datetime, ids: Sequence[int]
    ) -> list[tuple[int, int]]:
        """Those of ``ids`` that are due, by the same rules as :meth:`_due`, oldest first.

        Three lookups by key (the rows by primary key, their connections, the other events
        of their awards by ``award_id``) and the rules applied here, rather than one query
        with every condition: with the statistics PostgreSQL has right after a burst of
        awards (before autovacuum analyses the table) it answered that query by scanning
        every pending row and dropping those not in ``ids``, ~3 ms per 10,000 waiting.
        Rows another worker holds locked are skipped, as in :meth:`_due`.
        """
        query = (
            select(
                Delivery.id,
                Delivery.connection_id,
                Delivery.award_id,
                Delivery.sequence,
                Delivery.status,
                Delivery.lease_until,
                Delivery.next_attempt_at,
            )
            .where(Delivery.id.in_(list(ids)))
            .order_by(Delivery.id)
        )
        if not self.database.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        rows = [
            row
            for row in session.execute(query)
            if row.next_attempt_at <= now
            and (
                row.status == PENDING
                or (
                    row.status == IN_FLIGHT
                    and row.lease_until is not None
                    and row.lease_until < now
                )
            )
        ]
        if not rows:
            return []
        active = set(
            session.scalars(
                select(Connection.id).where(
                    Connection.id.in_({row.connection_id for row in rows}),
                    Connection.enabled.is_(True),
                    Connection.paused.is_(False),
                    Connection.disabled_reason.is_(None),
                )
            )
        )
        # The earliest open event of each (connection, award): a later one waits for it.
        first_open: dict[tuple[int, int], int] = {}
        # (The status is tested here, not in SQL, so that only the award_id index fits.)
        for connection_id, award_id, sequence, status in session.execute(
            select(
                Delivery.connection_id, Delivery.award_id, Delivery.sequence, Delivery.status
            ).where(Delivery.award_id.in_({row.award_id for row in rows}))
        ):
            if status not in OPEN_STATUSES:
                continue
            key = (connection_id, award_id)
            first_open[key] = min(sequence, first_open.get(key, sequence))
        due = [
            row
            for row in rows
            if row.connection_id in active
            and first_open.get((row.connection_id, row.award_id), row.sequence) >= row.sequence
        ]
        due.sort(key=lambda row: (row.next_attempt_at, row.id))
        return [(row.id, row.connection_id) for row in due]

    def _run_due(
        self, session: Session, state: str, now: datetime, limit: int
    ) -> list[tuple[int, int]]:
        statement = self._due_query(state)
        return [(r[0], r[1]) for r in session.execute(statement, {"now": now, "limit": limit})]

    def _due_query(self, state: str) -> Select[int, int]:
        """The due-rows query for ``state`` (expired | pending | unqueued), built once per
        engine with bound parameters ``now`` and ``limit``: building it is costly and it runs
        for every claim."""
        cached = self._statements.get(state)
        if cached is not None:
            return cached
        now = bindparam("now", type_=Delivery.next_attempt_at.type)
        condition = {
            "expired": and_(Delivery.status == IN_FLIGHT, Delivery.lease_until < now),
            "pending": Delivery.status == PENDING,
            "unqueued": and_(
                Delivery.status == PENDING,
                or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
            ),
        }[state]
        earlier = aliased(Delivery)
        blocked = exists().where(
            earlier.connection_id == Delivery.connection_id,
            earlier.award_id == Delivery.award_id,
            earlier.sequence < Delivery.sequence,
            earlier.status.in_(OPEN_STATUSES),
        )
        query = (
            select(Delivery.id, Delivery.connection_id)
            .join(Connection, Connection.id == Delivery.connection_id)
            .where(
                condition,
                Delivery.next_attempt_at <= now,
                Connection.enabled.is_(True),
                Connection.paused.is_(False),
                Connection.disabled_reason.is_(None),
                ~blocked,
            )
            # The order of the (status, next_attempt_at) index, nothing more: an index scan
            # that stops after ``limit`` rows whatever the planner's statistics say. With ", id"
            # added, PostgreSQL with stale statistics (right after a burst of awards, before
            # autovacuum analyses the table) fetched and sorted every due row on each claim
            # (~17 ms at 10,000). Ties (the rows of one award batch) come in index order,
            # which is insertion order.
            .order_by(Delivery.next_attempt_at)
            .limit(bindparam("limit", type_=Integer, literal_execute=True))
        )
        if not self.database.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=Delivery)
        self._statements[state] = query
        return query

    def claim(self, owner: str, limit: int = 1, *, ids: Sequence[int] | None = None) -> list[Job]:
        """Lease up to ``limit`` due deliveries (only among ``ids`` if given) for ``owner``,
        in one short write transaction."""
        now = utcnow()
        with self.database.session() as session:
            candidates = (
                self._due(session, now, limit * 2)
                if ids is None
                else self._due_among(session, now, ids)[: limit * 2]
            )
            if not candidates:
                return []
            chosen = self._take_tokens(session, candidates, limit, now)
            if not chosen:
                return []
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_([d for d, _ in chosen]))
                .values(
                    status=IN_FLIGHT,
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=self.settings.sync_lease_seconds),
                    attempts=Delivery.attempts + 1,
                    updated_at=now,
                )
            )
        return [Job(d, c, owner, now) for d, c in chosen]

    def sweep(self, limit: int = 500) -> list[int]:
        """Mark up to ``limit`` due deliveries as queued and return their ids (for a queue
        runner such as Celery: the ids go on the queue, the task claims them by id).

        A queued row stays ``pending`` with ``lease_owner = "queued"`` and a lease, so the
        next sweeps skip it; if the message is lost, the lease expires and it is swept again.
        Rows in flight whose worker died are put back to ``pending`` and queued too.
        """
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.sync_lease_seconds)
        # Find them in a read transaction (on SQLite the scan of the waiting rows must not
        # hold the write lock), then queue them with a guarded update: a row claimed or
        # queued by someone else in between is left alone and not returned.
        with self.database.read_session() as session:
            found = [d for d, _ in self._run_due(session, "expired", now, limit)]
            found += [d for d, _ in self._run_due(session, "unqueued", now, limit - len(found))]
        if not found:
            return []
        free = or_(Delivery.lease_until.is_(None), Delivery.lease_until < now)
        with self.database.session() as session:
            ids = list(
                session.scalars(
                    update(Delivery)
                    .where(
                        Delivery.id.in_(found),
                        or_(
                            and_(Delivery.status == IN_FLIGHT, Delivery.lease_until < now),
                            and_(Delivery.status == PENDING, free),
                        ),
                    )
                    .values(status=PENDING, lease_owner=QUEUED, lease_until=lease)
                    .returning(Delivery.id),
                    execution_options={"synchronize_session": False},
                )
            )
        return sorted(ids)

    def unqueue(self, delivery_ids: Sequence[int]) -> None:
        """Forget that ``delivery_ids`` are queued (their task could not claim them), so the
        next sweep queues them again."""
        if not delivery_ids:
            return
        with self.database.session() as session:
            session.execute(
                update(Delivery)
                .where(
                    Delivery.id.in_(list(delivery_ids)),
                    Delivery.status == PENDING,
                    Delivery.lease_owner == QUEUED,
                )
                .values(lease_owner=None, lease_until=None)
            )

    def _take_tokens(
        self, session: Session, candidates: list[tuple[int, int]], limit: int, now: datetime
    ) -> list[tuple[int, int]]:
        """The candidates (in order, at most ``limit``) whose connection has a token left."""
        connection_ids = sorted({c for _, c in candidates})
        limited = {
            row.id: row
            for row in session.scalars(
                select(Connection)
                .where(
                    Connection.id.in_(connection_ids),
                    Connection.rate_limit_per_minute.is_not(None),
                )
                .order_by(Connection.id)
                .with_for_update()
            )
        }
        tokens: dict[int, float] = {}
        for connection in limited.values():
            rate = float(connection.rate_limit_per_minute or 0)
            if connection.bucket_tokens is None or connection.bucket_updated_at is None:
                tokens[connection.id] = rate
            else:
                elapsed = max(0.0, (now - connection.bucket_updated_at).total_seconds())
                tokens[connection.id] = min(rate, connection.bucket_tokens + elapsed * rate / 60)
        chosen: list[tuple[int, int]] = []
        for delivery_id, connection_id in candidates:
            if len(chosen) >= limit:
                break
            if connection_id in tokens:
                if tokens[connection_id] < 1:
                    continue
                tokens[connection_id] -= 1
            chosen.append((delivery_id, connection_id))
        for connection_id, left in tokens.items():
            limited[connection_id].bucket_tokens = left
            limited[connection_id].bucket_updated_at = now
        return chosen

    # -- 2. prepare and attempt -------------------------------------------------------------

    def prepare_many(self, jobs: Sequence[Job]) -> list[Prepared]:
        """Read what the connectors need, in one read-only session (nothing held after)."""
        with self.database.read_session() as session:
            deliveries = {
                d.id: d
                for d in session.scalars(
                    select(Delivery).where(Delivery.id.in_([j.delivery_id for j in jobs]))
                )
            }
            connections = {
                c.id: c
                for c in session.scalars(
                    select(Connection).where(Connection.id.in_({j.connection_id for j in jobs}))
                )
            }
            loaded = {
                a.id: a
                for a in session.scalars(
                    select(Award)
                    .where(Award.id.in_({d.award_id for d in deliveries.values()}))
                    .options(
                        selectinload(Award.achievement).selectinload(Achievement.alignments),
                        selectinload(Award.learner),
                    )
                )
            }
            # Held here for the whole batch: the session's identity map only keeps weak
            # references, so a get() per event would query the platform again each time.
            platforms = {
                p.id: p
                for p in session.scalars(
                    select(Platform).where(
                        Platform.id.in_({a.learner.platform_id for a in loaded.values()})
                    )
                )
            }
            stored = self.credentials(session, list(loaded)) if self.credentials is not None else {}
            secrets: dict[int, dict[str, Any] | str] = {}
            out = []
            for job in jobs:
                delivery = deliveries[job.delivery_id]
                connection = connections[job.connection_id]
                if connection.id not in secrets:
                    try:
                        secrets[connection.id] = self._secrets(connection)
                    except SecretBoxError as exc:
                        secrets[connection.id] = str(exc)
                found = secrets[connection.id]
                prepared = Prepared(
                    job=job,
                    connector=connection.connector,
                    settings=dict(connection.settings or {}),
                    secrets=found if isinstance(found, dict) else {},
                    connection_version=connection.updated_at,
                    event=None,
                    pause=found if isinstance(found, str) else None,
                )
                if prepared.pause is None:
                    try:
                        award = loaded[delivery.award_id]
                        event = self._event(
                            session,
                            delivery,
                            connection,
                            award,
                            platforms[award.learner.platform_id],
                            stored.get(delivery.award_id),
                        )
                        prepared = dataclasses.replace(prepared, event=event)
                    except IdentityError as exc:
                        problem = Result(Outcome.REJECTED, detail=f"learner identity: {exc}")
                        prepared = dataclasses.replace(prepared, problem=problem)
                out.append(prepared)
            return out

    def _secrets(self, connection: Connection) -> dict[str, Any]:
        if not connection.secrets_encrypted:
            return {}
        loaded: dict[str, Any] = json.loads(self.box.decrypt(connection.secrets_encrypted))
        return loaded

    def _event(
        self,
        session: Session,
        delivery: Delivery,
        connection: Connection,
        award: Award,
        platform: Platform,
        stored: StoredCredential | None,
    ) -> AwardEvent:
        user: User = award.learner
        achievement: Achievement = award.achievement
        learner = Learner(
            platform_issuer=platform.issuer,
            sub=user.sub,
            name=user.display_name,
            email=user.email,
            hr_ids=self._identity(session, connection, user),
        )
        previous = (
            None
            if delivery.sequence <= 1
            else session.scalars(
                select(Delivery.external_id)
                .where(
                    Delivery.connection_id == delivery.connection_id,
                    Delivery.award_id == delivery.award_id,
                    Delivery.sequence < delivery.sequence,
                    Delivery.status == DELIVERED,
                    Delivery.external_id.is_not(None),
                )
                .order_by(Delivery.sequence.desc())
                .limit(1)
            ).first()
        )
        return AwardEvent(
            event_id=delivery.event_id,
            type=delivery.event_type,  # type: ignore[arg-type]  # coerced by __post_init__
            idempotency_key=delivery.idempotency_key,
            sequence=delivery.sequence,
            award_id=str(award.id),
            status=delivery.award_status,  # type: ignore[arg-type]
            issued_at=award.issued_at,
            occurred_at=delivery.occurred_at,
            learner=learner,
            achievement=EventAchievement(
                id=self.settings.url(f"/achievements/{achievement.id}"),
                name=achievement.name,
                description=achievement.description,
                criteria_narrative=achievement.criteria_narrative,
                criteria_url=achievement.criteria_url,
                alignments=tuple(
                    Alignment(
                        target_name=a.target_name,
                        target_url=a.target_url,
                        target_description=a.target_description,
                        target_framework=a.target_framework,
                        target_code=a.target_code,
                        target_type=a.target_type,
                    )
                    for a in achievement.alignments
                ),
                tags=tuple(achievement.tags or ()),
            ),
            # Awards made before credentials were issued have no credential page of their own:
            # point at the achievement instead.
            verification_url=(
                stored.verification_url
                if stored is not None
                else self.settings.url(f"/achievements/{achievement.id}")
            ),
            expires_at=award.expires_at,
            credential=stored.document if stored is not None else None,
            score=_score(award, achievement),
            external_id=previous,
        )

    def _identity(self, session: Session, connection: Connection, user: User) -> dict[str, str]:
        hr_ids = {str(k): str(v) for k, v in (user.hr_ids or {}).items() if v is not None}
        if user.person_sourcedid and "person_sourcedid" not in hr_ids:
            hr_ids["person_sourcedid"] = user.person_sourcedid
        mode = connection.identity_mapping
        if mode == MAPPING_EMAIL:
            if not user.email:
                raise IdentityError("the learner has no email address (mapping mode: email)")
        elif mode.startswith(MAPPING_HR_ID_PREFIX):
            key = mode[len(MAPPING_HR_ID_PREFIX) :]
            if key not in hr_ids:
                raise IdentityError(f"the learner has no {key!r} HR id (mapping mode: {mode})")
        elif mode == MAPPING_TABLE:
            mapped = session.scalars(
                select(IdentityMapping.external_id).where(
                    IdentityMapping.connection_id == connection.id,
                    IdentityMapping.sub == user.sub,
                )
            ).first()
            if mapped is None:
                raise IdentityError("the learner is not in the connection's identity mapping")
            hr_ids["mapped_id"] = mapped
        elif mode != MAPPING_LTI_SUB:
            raise IdentityError(f"unknown mapping mode {mode!r}")
        return hr_ids

    def connector_for(self, prepared: Prepared, http: requests.Session) -> Connector:
        """The connector instance for this connection (cached per connection version)."""
        key = (prepared.job.connection_id, id(http))
        with self._connectors_lock:
            cached = self._connectors.get(key)
            if cached is not None and cached[0] == prepared.connection_version:
                return cached[1]
        cls = self.registry.get(prepared.connector)
        connector = cls(prepared.settings, prepared.secrets, http)
        with self._connectors_lock:
            self._connectors[key] = (prepared.connection_version, connector)
        return connector

    def attempt(self, prepared: Prepared, http: requests.Session) -> tuple[Result, str | None]:
        """Call the connector (no transaction open). Returns (result, pause reason)."""
        if prepared.pause is not None:
            return Result(Outcome.RETRY, detail=prepared.pause), prepared.pause
        if prepared.problem is not None or prepared.event is None:
            return prepared.problem or Result(Outcome.REJECTED, detail="no event"), None
        try:
            connector = self.connector_for(prepared, http)
        except (RegistryError, ConnectorSettingsError) as exc:
            reason = f"connector {prepared.connector!r} cannot be used: {exc}"
            return Result(Outcome.RETRY, detail=reason), reason
        try:
            return deliver(connector, prepared.event), None
        except Exception as exc:  # a connector bug must not kill the worker
            log.warning(
                "connector %s raised %s on delivery %s",
                prepared.connector,
                type(exc).__name__,
                prepared.job.delivery_id,
            )
            hidden = secret_values(type(connector).settings_schema, connector.settings)
            text = _scrub(f"connector error: {type(exc).__name__}: {exc}", hidden)
            return Result(Outcome.RETRY, detail=text), None

    # -- 3. record --------------------------------------------------------------------------

    def record(
        self,
        job: Job,
        result: Result,
        *,
        pause: str | None = None,
        renew: Sequence[int] = (),
    ) -> str:
        """Log one attempt and apply its outcome if ``job.owner`` still holds the lease
        (see :meth:`record_many`). Returns the delivery's status afterwards, or ``"lost"``."""
        return self.record_many([Attempted(job, result, pause)], renew=renew)[0]

    def record_many(self, outcomes: Sequence[Attempted], *, renew: Sequence[int] = ()) -> list[str]:
        """Log the attempts and apply their outcomes, in one short write transaction.

        An outcome is applied only if its job's owner still holds the lease; otherwise the
        attempt is logged with ``applied = false`` and ``"lost"`` is returned for it.
        ``renew``: other deliveries this worker claimed and has not attempted yet; their
        leases are extended in the same transaction. Returns the status of each delivery
        afterwards, in the order of ``outcomes``.
        """
        if not outcomes:
            return []
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.sync_lease_seconds)
        with self.database.session() as session:
            ids = sorted({o.job.delivery_id for o in outcomes})
            current = {
                row.id: row
                for row in session.execute(
                    select(
                        Delivery.id,
                        Delivery.status,
                        Delivery.lease_owner,
                        Delivery.attempts,
                        Delivery.next_attempt_at,
                        Delivery.external_id,
                    )
                    .where(Delivery.id.in_(ids))
                    .order_by(Delivery.id)
                    .with_for_update()
                )
            }
            logged: list[dict[str, Any]] = []
            changes: list[dict[str, Any]] = []
            statuses: list[str] = []
            # What happened to each connection, last outcome wins: "ok", "failing", or a
            # pause reason.
            effects: dict[int, str | tuple[str]] = {}
            for job, result, pause in outcomes:
                row = current.get(job.delivery_id)
                if row is None:  # deleted meanwhile (its award was deleted): nothing to record
                    statuses.append("gone")
                    continue
                applied = row.status == IN_FLIGHT and row.lease_owner == job.owner
                detail = (result.detail or "")[:DETAIL_LIMIT]
                logged.append(
                    {
                        "delivery_id": job.delivery_id,
                        "worker": job.owner[:128],
                        "started_at": job.claimed_at,
                        "finished_at": now,
                        "outcome": str(result.outcome) if pause is None else "paused",
                        "status_code": result.status_code,
                        "detail": detail,
                        "applied": applied,
                    }
                )
                if not applied:
                    log.warning(
                        "delivery %s: lease lost before the outcome was recorded", job.delivery_id
                    )
                    statuses.append("lost")
                    continue
                values, effect = self._outcome(row, result, pause, detail, now)
                effects[job.connection_id] = effect
                changes.append(values)
                statuses.append(str(values["status"]))
            if logged:
                session.execute(insert(DeliveryAttempt), logged)
            waiting = sorted(set(renew) - set(ids))
            if waiting:
                session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id.in_(waiting),
                        Delivery.lease_owner == outcomes[0].job.owner,
                        Delivery.status == IN_FLIGHT,
                    )
                    .values(lease_until=lease)
                )
            if changes:
                # ORM bulk UPDATE by primary key: one executemany for the whole batch.
                session.execute(update(Delivery), changes)
            self._connection_effects(session, effects, now)
            for values in changes:
                if values["status"] == DEAD:
                    log.warning("delivery %s is dead: %s", values["id"], values["last_detail"])
        return statuses

    def _outcome(
        self, row: Any, result: Result, pause: str | None, detail: str, now: datetime
    ) -> tuple[dict[str, Any], str | tuple[str]]:
        """The delivery's new values for ``result`` and what it means for its connection."""
        values: dict[str, Any] = {
            "id": row.id,
            "status": PENDING,
            "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at,
            "external_id": row.external_id,
            "delivered_at": None,
            "last_outcome": str(result.outcome),
            "last_status_code": result.status_code,
            "last_detail": detail,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
        }
        if pause is not None or result.outcome is Outcome.UNAUTHORIZED:
            reason = pause or f"the target refused our credentials: {detail or 'unauthorized'}"
            # Waits for the connection to be resumed; this try does not count.
            values.update(attempts=max(0, row.attempts - 1), next_attempt_at=now)
            return values, (reason,)
        if result.outcome is Outcome.DELIVERED:
            values.update(status=DELIVERED, delivered_at=now, external_id=result.external_id)
            return values, "ok"
        if result.outcome is Outcome.REJECTED:
            values.update(status=DEAD)
            return values, ""  # the target works; it refuses this payload
        delay = retry_delay(
            row.attempts,
            scale=self.settings.sync_delay_scale,
            retry_after=result.retry_after,
            rng=self.rng,
        )
        if delay is None:
            values.update(
                status=DEAD,
                last_detail=(
                    f"retry schedule exhausted after {row.attempts} attempts; last: {detail}"
                )[:DETAIL_LIMIT],
            )
        else:
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        return values, "failing"

    def _connection_effects(
        self, session: Session, effects: Mapping[int, str | tuple[str]], now: datetime
    ) -> None:
        healthy = sorted(c for c, effect in effects.items() if effect == "ok")
        if healthy:
            session.execute(
                update(Connection)
                .where(Connection.id.in_(healthy), Connection.failing_since.is_not(None))
                .values(failing_since=None)
            )
        for connection_id, effect in sorted(effects.items()):
            if isinstance(effect, tuple):
                self._pause(session, connection_id, effect[0], now)
            elif effect == "failing":
                self._failing(session, connection_id, now)

    def _pause(self, session: Session, connection_id: int, reason: str, now: datetime) -> None:
        log.warning("connection %s paused: %s", connection_id, reason)
        session.execute(
            update(Connection)
            .where(Connection.id == connection_id)
            .values(paused=True, pause_reason=reason[:DETAIL_LIMIT], updated_at=now)
        )

    def _failing(self, session: Session, connection_id: int, now: datetime) -> None:
        session.execute(
            update(Connection)
            .where(Connection.id == connection_id, Connection.failing_since.is_(None))
            .values(failing_since=now)
        )
        cutoff = now - timedelta(seconds=self.settings.sync_disable_after)
        disabled = session.execute(
            update(Connection)
            .where(
                Connection.id == connection_id,
                Connection.failing_since <= cutoff,
                Connection.disabled_reason.is_(None),
            )
            .values(
                disabled_reason=(
                    "disabled automatically: every delivery failed since "
                    f"{cutoff.isoformat(timespec='seconds')}; fix the target and resume it"
                ),
                updated_at=now,
            )
        )
        if getattr(disabled, "rowcount", 0):
            log.warning("connection %s disabled after failing continuously", connection_id)

    # -- one step ---------------------------------------------------------------------------

    def step(self, owner: str, http: requests.Session, limit: int = 1) -> int:
        """Claim up to ``limit`` deliveries and attempt each (:meth:`run`); returns how many
        were claimed."""
        jobs = self.claim(owner, limit)
        if jobs:
            self.run(jobs, http)
        return len(jobs)

    def run(self, jobs: Sequence[Job], http: requests.Session) -> list[str]:
        """Attempt claimed deliveries and record their outcomes; returns their statuses.

        One read session for the batch's events, the connector calls with no transaction
        open, then one transaction recording every outcome. If the calls take long (a third
        of the lease), the outcomes so far are recorded early and the leases of the rest
        renewed, so a batch never outlives its leases. A worker that dies before recording
        loses nothing: the leases expire and the deliveries are sent again with the same
        idempotency key (the receiver dedupes).
        """
        if not jobs:
            return []
        try:
            prepared = self.prepare_many(jobs)
        except Exception as exc:
            log.exception("cannot build the events of deliveries %s", [j.delivery_id for j in jobs])
            failed = Result(Outcome.RETRY, detail=f"engine: {type(exc).__name__}")
            return self.record_many([Attempted(job, failed) for job in jobs])
        budget = self.settings.sync_lease_seconds / 3
        flush_at = time.monotonic() + budget
        statuses: list[str] = []
        done: list[Attempted] = []
        for n, item in enumerate(prepared):
            result, pause = self.attempt(item, http)
            done.append(Attempted(item.job, result, pause))
            if time.monotonic() >= flush_at and n + 1 < len(prepared):
                statuses += self.record_many(done, renew=[j.delivery_id for j in jobs[n + 1 :]])
                done = []
                flush_at = time.monotonic() + budget
        return statuses + self.record_many(done)

    def process(self, job: Job, http: requests.Session) -> str:
        """Attempt one claimed delivery and record the outcome."""
        return self.run([job], http)[0]

    def next_due_in(self) -> float | None:
        """Seconds until the earliest pending delivery is due (None when nothing waits)."""
        with self.database.read_session() as session:
            earliest = session.scalar(
                select(func.min(Delivery.next_attempt_at)).where(Delivery.status == PENDING)
            )
        if earliest is None:
            return None
        return max(0.0, (earliest - utcnow()).total_seconds())


def build_engine(database: Database, settings: Settings, **options: Any) -> Engine:
    """The engine every runner uses (``microcred worker``, the Celery tasks, the benchmark):
    its events carry the signed credential stored at issuance and its verification URL."""
    options.setdefault("credentials", StoredCredentials(settings.url))
    return Engine(database, settings, **options)


def _score(award: Award, achievement: Achievement) -> Score | None:
    result = award.result or {}
    value = result.get("value")
    if not isinstance(value, int | float):
        return None
    description = achievement.result_description or {}
    low = float(description.get("value_min", 0.0))
    high = float(description.get("value_max", 100.0))
    scaled = (float(value) - low) / (high - low) if high > low else None
    return Score(raw=float(value), min=low, max=high, scaled=scaled)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "[secret]")
    return text


# -- operations (CLI, admin UI) -----------------------------------------------------------


def replay(
    session: Session,
    *,
    connection_id: int | None = None,
    delivery_ids: Iterable[int] | None = None,
) -> int:
    """Put dead deliveries back in the queue (attempt log kept); returns how many."""
    now = utcnow()
    conditions = [Delivery.status == DEAD]
    if connection_id is not None:
        conditions.append(Delivery.connection_id == connection_id)
    if delivery_ids is not None:
        conditions.append(Delivery.id.in_(list(delivery_ids)))
    result = session.execute(
        update(Delivery)
        .where(*conditions)
        .values(
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def status_counts(session: Session) -> dict[int, dict[str, int]]:
    """{connection id: {status: count}}."""
    counts: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(Delivery.connection_id, Delivery.status, func.count())
        .group_by(Delivery.connection_id, Delivery.status)
        .order_by(Delivery.connection_id, Delivery.status)
    )
    for connection_id, status, count in rows:
        counts.setdefault(connection_id, {})[status] = count
    return counts


def resume(session: Session, connection: Connection) -> None:
    """Clear a pause or an automatic disable; waiting deliveries are due at once."""
    now = utcnow()
    connection.paused = False
    connection.pause_reason = None
    connection.disabled_reason = None
    connection.failing_since = None
    connection.enabled = True
    session.execute(
        update(Delivery)
        .where(Delivery.connection_id == connection.id, Delivery.status == PENDING)
        .values(next_attempt_at=now)
    )
