"""xAPI connector against a real LRS (Learning Locker's xapi-statements on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.base import AwardEvent, Connector, EventType, Outcome, Score, deliver
from connectors.settings import REDACTED, SettingsError, redact, secret_fields
from connectors.testing import ConnectorContract, ContractTarget, FaultProxy, follow_up
from connectors.xapi import AWARD_VERB, VOIDED_VERB, XapiConnector, statement_id
from connectors.xapi.connector import XAPI_VERSION
from connectors.xapi.statements import CREDENTIAL_EXTENSION
from schemas.connectors.xapi import XapiSettingsSchema

LRS_USER, LRS_PASSWORD = "microcred-test-key", "microcred-test-secret-7f3c"
XAPI_HEADERS = {"X-Experience-API-Version": XAPI_VERSION}
Lrs = Any  # the `lrs` fixture (tests/connectors/conftest.py); any credentials are accepted


def xapi(endpoint: str, session: requests.Session, **settings: Any) -> XapiConnector:
    return XapiConnector(
        {"endpoint": endpoint, "username": LRS_USER, **settings},
        {"password": LRS_PASSWORD},
        session,
    )


class TestXapiContract(ConnectorContract):
    connector_class = XapiConnector

    @pytest.fixture
    def target(self, lrs: Lrs) -> ContractTarget:
        return lrs

    def make_connector(self, url: str, session: requests.Session, *, timeout: float) -> Connector:
        return xapi(url, session, timeout=timeout)

    def invalid_event(self) -> AwardEvent:
        # xAPI requires -1 <= scaled <= 1: the LRS itself answers 400
        return self.make_event(score=Score(scaled=5.0))


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def proxy(lrs: Lrs) -> Iterator[FaultProxy]:
    proxy = FaultProxy(lrs.endpoint)
    yield proxy
    proxy.close()


def award() -> AwardEvent:
    return TestXapiContract().make_event(
        score=Score(raw=86, min=0, max=100, scaled=0.86, passed=True)
    )


def fetch(lrs: Lrs, **params: str) -> dict[str, Any]:
    response = lrs.get(**params)
    assert response.status_code == 200, response.text
    statement: dict[str, Any] = response.json()
    return statement


def test_award_then_retry_stores_exactly_one_statement(lrs: Lrs, session: requests.Session) -> None:
    connector = xapi(lrs.endpoint, session)
    event = award()
    first, retry = connector.push(event), connector.push(event)
    assert first.outcome is retry.outcome is Outcome.DELIVERED
    assert first.status_code == retry.status_code == 204
    assert first.external_id == retry.external_id == statement_id(event.idempotency_key)

    statement = fetch(lrs, statementId=first.external_id)
    assert statement["actor"]["account"] == {
        "homePage": event.learner.platform_issuer,
        "name": event.learner.sub,
    }
    assert "mbox" not in statement["actor"]
    assert statement["verb"]["id"] == AWARD_VERB["id"]
    assert statement["object"]["id"] == event.achievement.id
    assert statement["object"]["definition"]["name"] == {"en": event.achievement.name}
    assert statement["result"] == {
        "completion": True,
        "success": True,
        "score": {"scaled": 0.86, "raw": 86, "min": 0, "max": 100},
    }
    assert statement["context"]["extensions"][CREDENTIAL_EXTENSION] == event.verification_url
    assert lrs.stored_count(event) == 1


def test_revocation_voids_the_award_statement(lrs: Lrs, session: requests.Session) -> None:
    connector = xapi(lrs.endpoint, session)
    event = award()
    awarded = connector.push(event)
    revocation = follow_up(event, EventType.REVOKED, external_id=awarded.external_id)
    voided = deliver(connector, revocation)
    assert voided.outcome is Outcome.DELIVERED, voided
    assert voided.external_id == statement_id(revocation.idempotency_key)

    voiding = fetch(lrs, statementId=voided.external_id)
    assert voiding["verb"]["id"] == VOIDED_VERB["id"]
    assert voiding["object"] == {"objectType": "StatementRef", "id": awarded.external_id}
    assert lrs.get(statementId=awarded.external_id).status_code == 404  # voided now
    original = fetch(lrs, voidedStatementId=str(awarded.external_id))
    assert original["id"] == awarded.external_id
    assert lrs.stored_count(event) == 0  # voided statements drop out of queries
    assert deliver(connector, revocation).outcome is Outcome.DELIVERED  # retry: a no-op
    assert lrs.stored_count(revocation) == 1


def test_suspension_voids_and_reinstatement_records_again(
    lrs: Lrs, session: requests.Session
) -> None:
    connector = xapi(lrs.endpoint, session)
    event = award()
    awarded = connector.push(event)
    suspension = follow_up(event, EventType.SUSPENDED, external_id=awarded.external_id)
    assert deliver(connector, suspension).ok
    assert lrs.stored_count(event) == 0
    reinstatement = follow_up(suspension, EventType.REINSTATED, external_id=awarded.external_id)
    again = deliver(connector, reinstatement)
    assert again.ok
    assert again.external_id not in (None, awarded.external_id)
    assert lrs.stored_count(event) == 1


def test_update_records_new_statement_and_voids_the_previous(
    lrs: Lrs, session: requests.Session
) -> None:
    connector = xapi(lrs.endpoint, session)
    event = award()
    awarded = connector.push(event)
    update = follow_up(
        event,
        EventType.UPDATED,
        score=Score(scaled=0.95, passed=True),
        external_id=awarded.external_id,
    )
    updated = deliver(connector, update)
    assert updated.ok, updated
    assert deliver(connector, update).ok  # retried update: both PUTs are no-ops
    statements = [
        s
        for s in lrs.statements(
            {
                "objectType": "Agent",
                "account": {"homePage": event.learner.platform_issuer, "name": event.learner.sub},
            }
        )
        if s["verb"]["id"] == AWARD_VERB["id"]
    ]
    assert [s["id"] for s in statements] == [updated.external_id]
    assert statements[0]["result"]["score"] == {"scaled": 0.95}
    assert lrs.get(voidedStatementId=str(awarded.external_id)).status_code == 200


def test_conflicting_content_for_the_same_id_is_rejected(
    lrs: Lrs, session: requests.Session
) -> None:
    connector = xapi(lrs.endpoint, session)
    event = award()
    assert connector.push(event).ok
    drifted = dataclasses.replace(
        event, achievement=dataclasses.replace(event.achievement, name="Renamed")
    )
    result = connector.push(drifted)
    assert result.outcome is Outcome.REJECTED
    assert result.status_code == 409
    assert "payload drift" in result.detail


def test_every_request_carries_the_version_header(
    proxy: FaultProxy, session: requests.Session
) -> None:
    connector = xapi(proxy.url, session)
    event = award()
    assert connector.check().ok
    assert connector.push(event).ok
    assert proxy.requests
    for request in proxy.requests:
        assert request.headers["x-experience-api-version"] == "1.0.3"
        assert request.headers["authorization"].startswith("Basic ")


def test_an_lrs_400_is_rejected(proxy: FaultProxy, session: requests.Session, lrs: Lrs) -> None:
    proxy.drop_headers.add("x-experience-api-version")  # the real LRS then answers 400
    event = award()
    result = xapi(proxy.url, session).push(event)
    assert result.outcome is Outcome.REJECTED
    assert result.status_code == 400
    assert lrs.stored_count(event) == 0


def test_revoke_without_a_recorded_award_is_rejected(lrs: Lrs, session: requests.Session) -> None:
    revocation = follow_up(award(), EventType.REVOKED)
    result = xapi(lrs.endpoint, session).revoke(revocation)
    assert result.outcome is Outcome.REJECTED
    assert "nothing to void" in result.detail


def test_expiry_is_not_a_capability(lrs: Lrs, session: requests.Session) -> None:
    connector = xapi(lrs.endpoint, session)
    assert str(EventType.EXPIRED) not in connector.capabilities
    expiry = follow_up(award(), EventType.EXPIRED, external_id="x")
    assert deliver(connector, expiry).outcome is Outcome.REJECTED


def test_share_email_identifies_the_learner_by_mbox(lrs: Lrs, session: requests.Session) -> None:
    event = award()
    result = xapi(lrs.endpoint, session, share_email=True, language="fr-CA").push(event)
    statement = fetch(lrs, statementId=str(result.external_id))
    assert statement["actor"] == {"objectType": "Agent", "mbox": f"mailto:{event.learner.email}"}
    assert statement["object"]["definition"]["name"] == {"fr-CA": event.achievement.name}


def test_check_refuses_an_lrs_without_1_0_3(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.fail_next(200, body=json.dumps({"version": ["0.95"]}).encode())
    result = xapi(proxy.url, session).check()
    assert result.outcome is Outcome.REJECTED
    assert "not 1.0.3" in result.detail


def test_check_probes_credentials_after_about(proxy: FaultProxy, session: requests.Session) -> None:
    connector = xapi(proxy.url, session)
    proxy.fail_next(200, body=json.dumps({"version": ["1.0.3"]}).encode())
    proxy.fail_next(403, body=b"read access denied")
    result = connector.check()
    assert result.outcome is Outcome.UNAUTHORIZED
    assert [r.path.split("?")[0] for r in proxy.requests] == ["/xAPI/about", "/xAPI/statements"]


def test_raw_lrs_behaviour_the_connector_relies_on(lrs: Lrs) -> None:
    """Pin the LRS facts the mapping depends on (a newer LRS version must keep them)."""
    sid = statement_id("raw-behaviour-check")
    statement = {
        "actor": {"objectType": "Agent", "account": {"homePage": "https://l.example", "name": "r"}},
        "verb": AWARD_VERB,
        "object": {"objectType": "Activity", "id": "https://a.example/raw"},
    }
    url = f"{lrs.endpoint}/statements"
    auth = (LRS_USER, LRS_PASSWORD)

    def put(body: dict[str, Any], headers: dict[str, str]) -> int:
        response = requests.put(
            url, params={"statementId": sid}, json=body, headers=headers, auth=auth, timeout=10
        )
        return response.status_code

    assert put(statement, {}) == 400  # no version header
    assert put(statement, XAPI_HEADERS) == 204
    assert put(statement, XAPI_HEADERS) == 204
    changed = {**statement, "object": {"objectType": "Activity", "id": "https://a.example/b"}}
    assert put(changed, XAPI_HEADERS) == 409


# -- settings -------------------------------------------------------------------------------


def test_password_is_the_flagged_secret(session: requests.Session) -> None:
    assert secret_fields(XapiSettingsSchema) == {"password"}
    connector = xapi("https://lrs.example.com/xapi/", session)
    assert connector.settings["endpoint"] == "https://lrs.example.com/xapi"
    assert LRS_PASSWORD not in repr(connector)
    assert redact(XapiSettingsSchema, connector.settings)["password"] == REDACTED


@pytest.mark.parametrize(
    ("settings", "secrets", "field"),
    [
        (
            {"endpoint": "http://lrs.example.com/xapi", "username": "k"},
            {"password": "p"},
            "endpoint",
        ),
        ({"endpoint": "https://lrs.example.com/xapi"}, {"password": "p"}, "username"),
        ({"endpoint": "https://lrs.example.com/xapi", "username": "k"}, {}, "password"),
        (
            {"endpoint": "https://lrs.example.com/xapi", "username": "k", "language": "english!"},
            {"password": "p"},
            "language",
        ),
        (
            {"endpoint": "https://lrs.example.com/xapi", "username": "k", "password": "p"},
            {},
            "password",
        ),
        (
            {"endpoint": "https://lrs.example.com/xapi", "username": "k"},
            {"password": "p", "username": "k"},
            "username",
        ),
    ],
)
def test_bad_settings_are_explained(
    session: requests.Session,
    settings: dict[str, Any],
    secrets: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(SettingsError) as caught:
        XapiConnector(settings, secrets, session)
    assert field in caught.value.errors
    assert field in str(caught.value)


def listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port``, from /proc/net/tcp{,6} (Linux)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as rows:
            next(rows)
            for row in rows:
                local, state = row.split()[1], row.split()[3]
                address, port_hex = local.split(":")
                if state == "0A" and int(port_hex, 16) == port:
                    found.add(address)
    return found


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc/net/tcp")
def test_the_test_lrs_listens_on_loopback_only(lrs: Lrs) -> None:
    port = int(lrs.endpoint.split(":")[2].split("/")[0])
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
