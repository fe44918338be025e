"""Standard Webhooks connector against a real local receiver that verifies signatures."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from connectors.base import Connector, EventType, Outcome, deliver
from connectors.settings import REDACTED, SettingsError, redact, secret_fields
from connectors.testing import ConnectorContract, ContractTarget, FaultProxy, follow_up
from connectors.webhook import PING_EVENT_TYPE, WebhookConnector
from schemas.connectors.webhook import WebhookSettingsSchema


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


OLD_SECRET = new_secret()
NEW_SECRET = new_secret()


def webhook(
    url: str, secrets: Sequence[str], session: requests.Session, **settings: Any
) -> WebhookConnector:
    return WebhookConnector({"url": url, **settings}, {"secrets": list(secrets)}, session)


class TestWebhookContract(ConnectorContract):
    connector_class = WebhookConnector

    @pytest.fixture
    def target(self, webhook_receiver: Callable[..., Any]) -> ContractTarget:
        receiver: ContractTarget = webhook_receiver([NEW_SECRET])
        return receiver

    def make_connector(self, url: str, session: requests.Session, *, timeout: float) -> Connector:
        return webhook(url, [NEW_SECRET], session, timeout=timeout)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def receiver(webhook_receiver: Callable[..., Any]) -> Any:
    return webhook_receiver([NEW_SECRET])


# -- what is sent ---------------------------------------------------------------------------


def test_headers_and_payload_follow_standard_webhooks(
    receiver: Any, session: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinned = int(time.time()) + 3600  # an hour ahead: outside the 5-minute tolerance
    monkeypatch.setattr(WebhookConnector, "clock", lambda: pinned + 0.9)
    connector = webhook(receiver.url, [NEW_SECRET], session)
    event = TestWebhookContract().make_event()
    sent: list[requests.PreparedRequest] = []
    original = session.send

    def spy(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        sent.append(request)
        return original(request, **kwargs)

    monkeypatch.setattr(session, "send", spy)
    # the receiver must refuse a timestamp an hour ahead of its clock
    assert connector.push(event).outcome is Outcome.UNAUTHORIZED
    request = sent[0]
    assert request.headers["webhook-id"] == event.idempotency_key
    assert request.headers["webhook-timestamp"] == str(pinned)
    assert request.headers["content-type"] == "application/json"
    body = request.body
    assert isinstance(body, bytes)
    expected = Webhook(NEW_SECRET).sign(
        event.idempotency_key,
        datetime.fromtimestamp(pinned, tz=UTC),
        body.decode(),
    )
    assert request.headers["webhook-signature"] == expected

    payload = json.loads(body)
    assert payload["type"] == "credential.awarded"
    assert payload["timestamp"].endswith("Z")
    data = payload["data"]
    assert data["award_id"] == event.award_id
    assert data["sequence"] == 1
    assert data["status"] == "active"
    assert data["verification_url"] == event.verification_url
    assert data["achievement"]["id"] == event.achievement.id
    assert data["achievement"]["alignments"][0]["target_code"] == "DL-1"
    assert data["learner"] == {
        "platform_issuer": event.learner.platform_issuer,
        "sub": event.learner.sub,
        "hr_ids": dict(event.learner.hr_ids),
    }
    assert data["credential"] == event.credential


def test_every_event_type_is_delivered_with_its_type(
    receiver: Any, session: requests.Session
) -> None:
    connector = webhook(receiver.url, [NEW_SECRET], session)
    award = TestWebhookContract().make_event()
    assert connector.push(award).ok
    for kind in EventType:
        if kind is EventType.AWARDED:
            continue
        event = follow_up(award, kind)
        result = deliver(connector, event)
        assert result.outcome is Outcome.DELIVERED, (kind, result)
        stored = receiver.events[event.idempotency_key]
        assert stored["type"] == str(kind)
        assert stored["data"]["sequence"] == event.sequence
        assert stored["data"]["status"] == str(event.status)


def test_privacy_options(receiver: Any, session: requests.Session) -> None:
    connector = webhook(
        receiver.url, [NEW_SECRET], session, include_credential=False, share_email=True
    )
    event = TestWebhookContract().make_event()
    assert connector.push(event).ok
    data = receiver.events[event.idempotency_key]["data"]
    assert data["credential"] is None
    assert data["learner"]["email"] == event.learner.email


def test_check_sends_a_verified_ping_that_is_not_an_event(
    receiver: Any, session: requests.Session
) -> None:
    result = webhook(receiver.url, [NEW_SECRET], session).check()
    assert result.outcome is Outcome.DELIVERED
    assert [ping["type"] for ping in receiver.pings] == [PING_EVENT_TYPE]
    assert receiver.events == {}
    assert receiver.received[0].headers["webhook-id"].startswith("ping_")


# -- signatures -----------------------------------------------------------------------------


@pytest.mark.parametrize("held", [OLD_SECRET, NEW_SECRET], ids=["old-only", "new-only"])
def test_rotation_signs_with_both_secrets(
    webhook_receiver: Callable[..., Any], session: requests.Session, held: str
) -> None:
    receiver = webhook_receiver([held])
    connector = webhook(receiver.url, [NEW_SECRET, OLD_SECRET], session)
    event = TestWebhookContract().make_event()
    assert connector.push(event).outcome is Outcome.DELIVERED
    assert receiver.stored_count(event) == 1
    signatures = receiver.received[0].headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(signature.startswith("v1,") for signature in signatures)


def test_wrong_secret_is_unauthorized(
    webhook_receiver: Callable[..., Any], session: requests.Session
) -> None:
    receiver = webhook_receiver([OLD_SECRET])
    event = TestWebhookContract().make_event()
    result = webhook(receiver.url, [NEW_SECRET], session).push(event)
    assert result.outcome is Outcome.UNAUTHORIZED
    assert receiver.stored_count(event) == 0


def test_tampered_body_is_refused_by_the_receiver(receiver: Any, session: requests.Session) -> None:
    event = TestWebhookContract().make_event()
    assert webhook(receiver.url, [NEW_SECRET], session).push(event).ok
    original = receiver.received[-1]
    tampered = original.body.replace(b'"status":"active"', b'"status":"revoked"')
    assert tampered != original.body
    forged_id = {**original.headers, "webhook-id": "forged"}
    assert receiver.accept(receiver.PATH, forged_id, original.body) == 401  # id is signed too
    assert receiver.accept(receiver.PATH, original.headers, tampered) == 401
    reserialised = json.dumps(json.loads(original.body), indent=2).encode()
    assert receiver.accept(receiver.PATH, original.headers, reserialised) == 401
    assert receiver.accept(receiver.PATH, original.headers, original.body) == 204  # replay
    assert receiver.duplicates == 1
    assert len(receiver.events) == 1


def test_non_ascii_text_survives_signing(receiver: Any, session: requests.Session) -> None:
    base = TestWebhookContract().make_event()
    achievement = dataclasses.replace(base.achievement, name="Données — niveau 1 ✓")
    event = dataclasses.replace(base, achievement=achievement)
    assert webhook(receiver.url, [NEW_SECRET], session).push(event).ok
    assert receiver.events[event.idempotency_key]["data"]["achievement"]["name"] == (
        "Données — niveau 1 ✓"
    )


def test_retry_after_on_the_receivers_answer(receiver: Any, session: requests.Session) -> None:
    proxy = FaultProxy(receiver.url)
    try:
        proxy.fail_next(503, headers={"Retry-After": "30"})
        result = webhook(proxy.url, [NEW_SECRET], session).push(TestWebhookContract().make_event())
    finally:
        proxy.close()
    assert (result.outcome, result.retry_after) == (Outcome.RETRY, 30.0)


# -- settings -------------------------------------------------------------------------------


def test_secrets_are_flagged_and_redacted() -> None:
    assert secret_fields(WebhookSettingsSchema) == {"secrets"}
    shown = redact(WebhookSettingsSchema, {"url": "https://x.example", "secrets": [NEW_SECRET]})
    assert shown == {"url": "https://x.example", "secrets": REDACTED}


def test_repr_hides_secrets(session: requests.Session) -> None:
    connector = webhook("https://hooks.example.com/in", [NEW_SECRET], session)
    assert NEW_SECRET not in repr(connector)
    assert REDACTED in repr(connector)


def test_defaults(session: requests.Session) -> None:
    settings = webhook("https://hooks.example.com/in", [NEW_SECRET], session).settings
    assert settings["timeout"] == 15.0
    assert settings["include_credential"] is True
    assert settings["share_email"] is False


@pytest.mark.parametrize(
    ("settings", "secrets", "field", "message"),
    [
        ({"url": "http://hooks.example.com/in"}, [NEW_SECRET], "url", "https://"),
        ({"url": "not a url"}, [NEW_SECRET], "url", "Not a valid URL"),
        ({"url": "https://u:p@hooks.example.com/"}, [NEW_SECRET], "url", "credentials"),
        ({}, [NEW_SECRET], "url", "Missing data"),
        ({"url": "https://h.example"}, ["sk_live_abc"], "secrets", "whsec_"),
        ({"url": "https://h.example"}, ["whsec_%%%notbase64"], "secrets", "base64"),
        (
            {"url": "https://h.example"},
            ["whsec_" + base64.b64encode(b"short").decode()],
            "secrets",
            "24 to 64 bytes",
        ),
        (
            {"url": "https://h.example"},
            [NEW_SECRET, OLD_SECRET, new_secret()],
            "secrets",
            "two while rotating",
        ),
        ({"url": "https://h.example"}, [], "secrets", "two while rotating"),
        ({"url": "https://h.example", "timeout": 0}, [NEW_SECRET], "timeout", "between"),
        ({"url": "https://h.example", "colour": "red"}, [NEW_SECRET], "colour", "Unknown field"),
    ],
)
def test_bad_settings_are_explained(
    session: requests.Session,
    settings: dict[str, Any],
    secrets: list[str],
    field: str,
    message: str,
) -> None:
    with pytest.raises(SettingsError) as caught:
        WebhookConnector(settings, {"secrets": secrets}, session)
    assert field in caught.value.errors
    assert message in str(caught.value)
    for secret in secrets:
        assert secret not in str(caught.value)


def test_secret_in_plain_settings_is_refused(session: requests.Session) -> None:
    with pytest.raises(SettingsError, match="secrets: Is a secret"):
        WebhookConnector(
            {"url": "https://h.example", "secrets": [NEW_SECRET]},
            {"secrets": [NEW_SECRET]},
            session,
        )
