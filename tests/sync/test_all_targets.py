"""One award reaches every configured target exactly once, and its revocation follows.

One tenant, five enabled connections, each to a real local target on 127.0.0.1: a
``standardwebhooks``-verifying receiver, the xapi-statements LRS from npm, and the Workday,
SuccessFactors and Degreed contract servers. Identity mapping finds the learner in each HR
system (Workday by the ``employee_id`` HR id, SuccessFactors through an uploaded mapping
table, Degreed by email). The award and the revocation go through the credential service;
the real engine (or the embedded runner) delivers them; each server's own state is checked.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.base import EventType
from connectors.xapi.statements import AWARD_VERB, VOIDED_VERB, statement_id
from lti_tool.credentials import awards
from lti_tool.db import Database
from lti_tool.models import (
    Achievement,
    Award,
    Connection,
    Delivery,
    DeliveryAttempt,
    Platform,
    User,
    utcnow,
)
from lti_tool.models.sync import DELIVERED, OPEN_STATUSES, PENDING
from lti_tool.secretbox import SecretBox
from lti_tool.settings import Settings, load_settings
from lti_tool.sync.connections import add_connection, import_identity_mapping
from lti_tool.sync.engine import Engine, build_engine
from lti_tool.sync.runner import EmbeddedRunner
from tests.conftest import SECRET_KEY, TOOL_URL
from tests.connectors.conftest import Lrs, WebhookReceiver
from tests.connectors.servers.degreed import DegreedServer
from tests.connectors.servers.successfactors import SuccessFactorsTenant
from tests.connectors.servers.workday import WorkdayTenant
from tests.connectors.test_successfactors_connector import keypair
from tests.support.lrs import private_lrs
from tests.support.outage import outage

from .conftest import SECRET, World, drain, wait_for

EMPLOYEE_ID = "E-4711"
SF_USER = "sfuser-0815"  # SuccessFactors knows the learner under another id: mapping table
WORKDAY_USER, WORKDAY_PASSWORD = "ISU_Microcred@acme", "wd-pass<&>"
SF_COMPANY, SF_CLIENT, SF_API_USER = "ACME01", "MjQ1YmE2NzM3OWU4", "sfapi"
SF_ENTITY = "Background_Certificates"
DEGREED_ID, DEGREED_SECRET = "microcred-degreed", "deg+reed/secret="
LRS_USER, LRS_PASSWORD = "microcred-lrs", "lrs-secret"


@pytest.fixture
def sync_settings(database: Database, tmp_path: Path) -> Settings:
    """As tests/sync/conftest.py, with the retry schedule scaled to ~10 s in all (1e-4), so
    a target that is down for a moment is retried a few times without going dead."""
    return load_settings(
        {},
        database_url=database.url,
        public_url=TOOL_URL,
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
        sync_delay_scale=1e-4,
        sync_lease_seconds=10,
        sync_poll_interval=0.05,
    )


@dataclass
class Targets:
    webhook: WebhookReceiver
    lrs: Lrs
    workday: WorkdayTenant
    successfactors: SuccessFactorsTenant
    degreed: DegreedServer
    key_pem: str
    cert_pem: str

    def close(self) -> None:
        for server in (self.webhook, self.workday, self.successfactors, self.degreed):
            server.close()


@pytest.fixture
def lrs(tmp_path: Path) -> Iterator[Lrs]:
    """A fresh LRS per test: statement ids come from idempotency keys, which repeat in
    every fresh test database (see tests/support/lrs.py)."""
    workdir = tmp_path / "lrs"
    workdir.mkdir()
    with private_lrs(workdir) as running:
        yield running


@pytest.fixture
def targets(lrs: Lrs) -> Iterator[Targets]:
    key_pem, cert_pem = keypair("microcred-all-targets")
    started = Targets(
        webhook=WebhookReceiver([SECRET]),
        lrs=lrs,
        workday=WorkdayTenant(username=WORKDAY_USER, password=WORKDAY_PASSWORD),
        successfactors=SuccessFactorsTenant(
            company_id=SF_COMPANY,
            client_id=SF_CLIENT,
            certificate_pem=cert_pem,
            api_user=SF_API_USER,
            entity=SF_ENTITY,
            fields={"externalId", "name", "institution", "startDate", "endDate", "url"},
            required={"externalId", "name"},
            dates={"startDate", "endDate"},
        ),
        degreed=DegreedServer(),
        key_pem=key_pem,
        cert_pem=cert_pem,
    )
    started.degreed.add_key(DEGREED_ID, DEGREED_SECRET)
    yield started
    started.close()


@dataclass
class Tenant:
    world: World
    targets: Targets
    learner_id: int
    email: str
    issuer: str  # the platform's LTI issuer (xAPI agent homePage)
    sub: str
    connections: dict[str, int]

    def award(self) -> int:
        with self.world.database.session() as session:
            made, created = awards.award(
                session,
                session.get_one(Achievement, self.world.achievement_id),
                session.get_one(User, self.learner_id),
                source="manual",
                actor="admin:test",
            )
            assert created
            return made.id

    def revoke(self, award_id: int) -> None:
        with self.world.database.session() as session:
            awards.revoke(
                session,
                session.get_one(Award, award_id),
                reason="issued in error",
                actor="admin:test",
            )

    def agent(self) -> dict[str, Any]:
        return {"objectType": "Agent", "account": {"homePage": self.issuer, "name": self.sub}}

    def snapshot(self) -> dict[str, Any]:
        """What each target holds about the learner, from the servers' own state."""
        t = self.targets
        sf = t.successfactors
        degreed_user = t.degreed.user_by_email(self.email)
        assert degreed_user is not None
        held = t.degreed.state  # read once the engine is idle: nothing is changing it
        completions = [c.id for c in held.completions.values() if c.user_id == degreed_user.id]
        deleted = [c.id for c in held.deleted if c.user_id == degreed_user.id]
        return {
            "webhook": sorted(
                (p["type"], p["data"]["award_id"], p["data"]["sequence"])
                for p in t.webhook.events.values()
            ),
            "xapi": sorted(
                (s["id"], s["verb"]["id"], s["object"]["id"])
                for s in t.lrs.statements(self.agent())
            ),
            "workday": sorted(
                (c.skill_id, c.number, str(c.expires))
                for c in t.workday.certifications(EMPLOYEE_ID)
            ),
            "workday_removed": len(t.workday.removals),
            "successfactors": sorted(
                (e["externalId"], str(e.get("endDate"))) for e in sf.entries(SF_USER)
            ),
            "successfactors_deleted": sorted(e["externalId"] for e in sf.deleted),
            "degreed": completions,
            "degreed_deleted": deleted,
        }

    def deliveries(self, connector: str | None = None) -> list[Delivery]:
        rows = self.world.deliveries()
        if connector is None:
            return rows
        return [r for r in rows if r.connection_id == self.connections[connector]]

    def outcomes(self, delivery_id: int) -> list[str]:
        """The recorded outcome of each attempt of one delivery, in order."""
        with self.world.database.read_session() as session:
            return list(
                session.scalars(
                    select(DeliveryAttempt.outcome)
                    .where(DeliveryAttempt.delivery_id == delivery_id)
                    .order_by(DeliveryAttempt.id)
                )
            )

    def traffic(self) -> dict[str, int]:
        """How many requests each HR target and the receiver have answered so far."""
        t = self.targets
        return {
            "webhook": len(t.webhook.received),
            "workday": len(t.workday.requests),
            "successfactors": len(t.successfactors.calls),
            "degreed": len(t.degreed.requests),
        }

    def revoked_on(self) -> str:
        """The (UTC) day of the revocation event, as HR systems record it."""
        [row, *_] = [r for r in self.deliveries() if r.event_type == EventType.REVOKED]
        occurred = row.occurred_at
        if occurred.tzinfo is not None:
            occurred = occurred.astimezone(UTC)
        return str(occurred.date())

    def redeliver(self, event_type: str) -> int:
        """Put delivered rows of one event type back in the queue as if their answers had
        been lost (no external id recorded): the targets see each event a second time."""
        with self.world.database.session() as session:
            result = session.execute(
                update(Delivery)
                .where(Delivery.event_type == event_type, Delivery.status == DELIVERED)
                .values(
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=utcnow(),
                    external_id=None,
                    lease_owner=None,
                    lease_until=None,
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)


def _connect(
    session: Session, box: SecretBox, platform_id: int, connector: str, **fields: Any
) -> Connection:
    return add_connection(session, box, platform_id=platform_id, connector=connector, **fields)


@pytest.fixture
def tenant(
    make_world: Callable[[int], World],
    targets: Targets,
    issuer: Any,
    outbox: None,
) -> Tenant:
    """The learner (email, HR id) known to every target, and five enabled connections."""
    world = make_world(1)
    box = SecretBox(world.settings.secret_key)
    with world.database.session() as session:
        user = session.get_one(User, world.learner_ids[0])
        user.hr_ids = {"employee_id": EMPLOYEE_ID}
        email, sub = user.email, user.sub
        assert email is not None
        platform_issuer = session.get_one(Platform, world.platform_id).issuer
        pid = world.platform_id
        made = {
            "webhook": _connect(
                session,
                box,
                pid,
                "webhook",
                name="hr-events",
                settings={"url": targets.webhook.url, "timeout": 5.0},
                secrets={"secrets": [SECRET]},
            ),
            "xapi": _connect(
                session,
                box,
                pid,
                "xapi",
                name="lrs",
                settings={"endpoint": targets.lrs.endpoint, "username": LRS_USER},
                secrets={"password": LRS_PASSWORD},
            ),
            "workday": _connect(
                session,
                box,
                pid,
                "workday",
                name="workday",
                settings={
                    "tenant_url": targets.workday.url,
                    "username": WORKDAY_USER,
                    "issuer": "Example University",
                    "worker_id_source": "employee_id",
                    "revocation": "end_date",
                },
                secrets={"password": WORKDAY_PASSWORD},
                identity_mapping="hr_id:employee_id",
            ),
            "successfactors": _connect(
                session,
                box,
                pid,
                "successfactors",
                name="successfactors",
                settings={
                    "api_url": targets.successfactors.url,
                    "company_id": SF_COMPANY,
                    "client_id": SF_CLIENT,
                    "user_id": SF_API_USER,
                    "certificate": targets.cert_pem,
                    "entity": SF_ENTITY,
                    "issuer_field": "institution",
                    "issuer": "Example University",
                    "url_field": "url",
                    "user_id_source": "mapped_id",
                    "revocation": "remove",
                },
                secrets={"private_key": targets.key_pem},
                identity_mapping="table",
            ),
            "degreed": _connect(
                session,
                box,
                pid,
                "degreed",
                name="degreed",
                settings={
                    "client_id": DEGREED_ID,
                    "api_url": targets.degreed.url,
                    "token_url": targets.degreed.token_url,
                    "user_identifier": "email",
                },
                secrets={"client_secret": DEGREED_SECRET},
                identity_mapping="email",
            ),
        }
        import_identity_mapping(
            session, made["successfactors"], [{"sub": sub, "external_id": SF_USER}]
        )
        connections = {name: c.id for name, c in made.items()}
    # The learner exists in each HR system, under the identifiers the mapping yields.
    targets.workday.add_worker(EMPLOYEE_ID)
    targets.successfactors.add_user(SF_USER)
    targets.degreed.add_user(email, EMPLOYEE_ID)
    return Tenant(world, targets, world.learner_ids[0], email, platform_issuer, sub, connections)


@pytest.fixture
def runners() -> Iterator[list[EmbeddedRunner]]:
    started: list[EmbeddedRunner] = []
    yield started
    for runner in started:
        runner.stop()


def assert_awarded_once(tenant: Tenant, award_id: int, state: dict[str, Any]) -> None:
    key = {d.connection_id: d.idempotency_key for d in tenant.deliveries()}
    xapi_key = key[tenant.connections["xapi"]]
    assert state["webhook"] == [(EventType.AWARDED, str(award_id), 1)]
    achievement_url = f"{TOOL_URL}/achievements/{tenant.world.achievement_id}"
    assert state["xapi"] == [(statement_id(xapi_key), AWARD_VERB["id"], achievement_url)]
    [(_, number, expires)] = state["workday"]
    assert (number, expires) == (str(award_id), "None")
    assert state["workday_removed"] == 0
    assert [entry for entry, _ in state["successfactors"]] == [str(award_id)]
    assert state["successfactors_deleted"] == []
    assert len(state["degreed"]) == 1 and state["degreed_deleted"] == []


def test_one_award_reaches_every_target_once_and_its_revocation_follows(
    tenant: Tenant, engine: Engine
) -> None:
    award_id = tenant.award()
    rows = tenant.deliveries()
    assert sorted(r.connection_id for r in rows) == sorted(tenant.connections.values())
    drain(engine, tenant.world)
    rows = tenant.deliveries()
    assert [(r.status, r.attempts) for r in rows] == [(DELIVERED, 1)] * 5, [
        (r.connection_id, r.last_outcome, r.last_detail) for r in rows
    ]
    assert all(r.external_id for r in rows if r.connection_id != tenant.connections["webhook"])
    awarded = tenant.snapshot()
    assert_awarded_once(tenant, award_id, awarded)

    # A second run finds nothing to do and changes nothing.
    drain(engine, tenant.world)
    with requests.Session() as http:
        assert engine.step("again", http, limit=10) == 0
    assert tenant.snapshot() == awarded

    # Every award delivery again, with its answer "lost": read-first / same ids, no duplicate.
    before = tenant.traffic()
    assert tenant.redeliver(EventType.AWARDED) == 5
    drain(engine, tenant.world)
    after = tenant.traffic()
    assert all(after[name] > before[name] for name in before), (before, after)
    assert [r.status for r in tenant.deliveries()] == [DELIVERED] * 5
    assert tenant.snapshot() == awarded
    assert tenant.targets.webhook.duplicates == 1  # the receiver deduped it by webhook-id

    # Revocation: each target reflects it, once.
    tenant.revoke(award_id)
    drain(engine, tenant.world)
    revokes = [r for r in tenant.deliveries() if r.event_type == EventType.REVOKED]
    assert [(r.status, r.attempts) for r in revokes] == [(DELIVERED, 1)] * 5, [
        (r.connection_id, r.last_outcome, r.last_detail) for r in revokes
    ]
    revoked = tenant.snapshot()
    assert_revoked_once(tenant, award_id, awarded, revoked)

    # ... and replaying the revocations changes nothing either.
    before = tenant.traffic()
    assert tenant.redeliver(EventType.REVOKED) == 5
    drain(engine, tenant.world)
    after = tenant.traffic()
    assert all(after[name] > before[name] for name in before), (before, after)
    assert {r.status for r in tenant.deliveries()} == {DELIVERED}
    assert tenant.snapshot() == revoked
    assert tenant.targets.webhook.duplicates == 2


def assert_revoked_once(
    tenant: Tenant, award_id: int, awarded: dict[str, Any], revoked: dict[str, Any]
) -> None:
    today = tenant.revoked_on()
    assert revoked["webhook"] == sorted(
        [(EventType.AWARDED, str(award_id), 1), (EventType.REVOKED, str(award_id), 2)]
    )
    # xAPI: the award statement is voided (gone from queries) by exactly one voiding statement.
    [(award_statement, _, _)] = awarded["xapi"]
    [(_, verb, _)] = revoked["xapi"]
    assert verb == VOIDED_VERB["id"]
    voided = tenant.targets.lrs.get(voidedStatementId=award_statement)
    assert voided.status_code == 200, voided.text
    assert json.loads(voided.text)["verb"]["id"] == AWARD_VERB["id"]
    # Workday: the same certification, end-dated on the day of the revocation.
    [(skill, number, expires)] = revoked["workday"]
    assert (skill, number, expires) == (awarded["workday"][0][0], str(award_id), today)
    assert revoked["workday_removed"] == 0
    # SuccessFactors (revocation "remove"): the entry is deleted, once.
    assert revoked["successfactors"] == []
    assert revoked["successfactors_deleted"] == [str(award_id)]
    # Degreed: the completion is deleted, once.
    assert revoked["degreed"] == [] and revoked["degreed_deleted"] == awarded["degreed"]


def test_a_target_down_during_the_award_gets_it_once_when_back(
    tenant: Tenant, database: Database, sync_settings: Settings, runners: list[EmbeddedRunner]
) -> None:
    engine = build_engine(database, sync_settings, rng=random.Random(11))
    degreed_id = tenant.connections["degreed"]

    def settled_elsewhere() -> bool:
        rows = tenant.deliveries()
        others = [r for r in rows if r.connection_id != degreed_id]
        down = [r for r in rows if r.connection_id == degreed_id]
        return (
            len(others) == 4
            and all(r.status == DELIVERED for r in others)
            and len(down) == 1
            and tenant.outcomes(down[0].id).count("retry") >= 2
        )

    with outage(tenant.targets.degreed._server):
        runners.append(EmbeddedRunner(engine, threads=2, poll_interval=0.02).start())
        award_id = tenant.award()
        wait_for(settled_elsewhere, timeout=10, what="four targets delivered, Degreed retried")
        [waiting] = tenant.deliveries("degreed")
        assert waiting.status in OPEN_STATUSES, (waiting.status, waiting.last_detail)
        assert waiting.last_outcome == "retry"
        assert tenant.targets.degreed.state.completions == {}

    wait_for(
        lambda: all(r.status == DELIVERED for r in tenant.deliveries()),
        timeout=10,
        what="Degreed delivered once it is back",
    )
    rows = tenant.deliveries()
    assert len(rows) == 5
    assert_awarded_once(tenant, award_id, tenant.snapshot())
    tries = [outcome for row in rows for outcome in tenant.outcomes(row.id)]
    assert tries.count("delivered") == 5  # one success per target, nothing applied twice
    [degreed] = tenant.deliveries("degreed")
    degreed_tries = tenant.outcomes(degreed.id)
    assert degreed_tries[-1] == "delivered" and set(degreed_tries[:-1]) == {"retry"}
    assert len(degreed_tries) >= 3  # it was retried while down, and delivered once back
    assert tenant.targets.webhook.duplicates == 0


def test_an_award_and_its_revocation_wait_for_a_down_target_and_arrive_in_order(
    tenant: Tenant, engine: Engine
) -> None:
    degreed_id = tenant.connections["degreed"]

    def others_done_degreed_retried() -> bool:
        rows = tenant.deliveries()
        others = [r for r in rows if r.connection_id != degreed_id]
        [first, _] = [r for r in rows if r.connection_id == degreed_id]
        return (
            len(others) == 8
            and all(r.status == DELIVERED for r in others)
            and tenant.outcomes(first.id).count("retry") >= 2
        )

    with outage(tenant.targets.degreed._server):
        award_id = tenant.award()
        tenant.revoke(award_id)  # award and revocation both committed while Degreed is down
        with requests.Session() as http:

            def stepped() -> bool:
                engine.step("w", http, limit=10)
                return others_done_degreed_retried()

            wait_for(stepped, timeout=10, what="four targets done, Degreed retried")
        award_row, revoke_row = tenant.deliveries("degreed")
        assert award_row.status in OPEN_STATUSES and revoke_row.status in OPEN_STATUSES
        assert tenant.outcomes(revoke_row.id) == []  # never tried before its award
        assert tenant.targets.degreed.requests == []  # the port refused every connection
    drain(engine, tenant.world)
    assert {r.status for r in tenant.deliveries()} == {DELIVERED}
    state = tenant.snapshot()
    assert [p["type"] for p in tenant.targets.webhook.events.values()] == [
        EventType.AWARDED,
        EventType.REVOKED,
    ]
    [(_, verb, _)] = state["xapi"]
    assert verb == VOIDED_VERB["id"]
    [(_, number, expires)] = state["workday"]
    assert (number, expires) == (str(award_id), tenant.revoked_on())
    assert state["successfactors"] == [] and state["successfactors_deleted"] == [str(award_id)]
    assert state["degreed"] == [] and len(state["degreed_deleted"]) == 1
    paths = [(r.method, r.path.split("?")[0]) for r in tenant.targets.degreed.requests]
    posted = paths.index(("POST", "/api/v2/completions"))
    deleted = [i for i, (method, _) in enumerate(paths) if method == "DELETE"]
    assert len(deleted) == 1 and deleted[0] > posted  # the award first, then its removal
