"""SuccessFactors connector against the local SAML-bearer + OData contract server."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors.base import Achievement, AwardEvent, Connector, EventType, Outcome
from connectors.settings import REDACTED, SettingsError, redact
from connectors.successfactors import SuccessFactorsConnector
from connectors.successfactors.odata import from_date, literal, to_date, upsert_status
from connectors.successfactors.saml import SAML, signed_assertion
from connectors.testing import ConnectorContract, ContractTarget, FaultProxy, follow_up
from schemas.connectors.successfactors import SuccessFactorsSettingsSchema
from tests.connectors.servers.successfactors import SuccessFactorsTenant

COMPANY, CLIENT, API_USER = "ACME01", "MjQ1YmE2NzM3OWU4", "sfapi"
ENTITY = "Background_Certificates"
FIELDS = {"externalId", "name", "institution", "startDate", "endDate", "url"}


def keypair(common_name: str = "microcred") -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


KEY_PEM, CERT_PEM = keypair()
OTHER_KEY_PEM, OTHER_CERT_PEM = keypair("someone-else")


def start_tenant() -> SuccessFactorsTenant:
    return SuccessFactorsTenant(
        company_id=COMPANY,
        client_id=CLIENT,
        certificate_pem=CERT_PEM,
        api_user=API_USER,
        entity=ENTITY,
        fields=FIELDS,
        required={"externalId", "name"},
        dates={"startDate", "endDate"},
    )


def successfactors(
    url: str, session: requests.Session, *, key: str = KEY_PEM, **extra: Any
) -> SuccessFactorsConnector:
    settings = {
        "api_url": url,
        "company_id": COMPANY,
        "client_id": CLIENT,
        "user_id": API_USER,
        "certificate": CERT_PEM,
        "entity": ENTITY,
        "issuer_field": "institution",
        "issuer": "Example University",
        "url_field": "url",
        **extra,
    }
    return SuccessFactorsConnector(settings, {"private_key": key}, session)


class TestSuccessFactorsContract(ConnectorContract):
    connector_class = SuccessFactorsConnector

    @pytest.fixture
    def target(self) -> Iterator[ContractTarget]:
        tenant = start_tenant()
        self.tenant = tenant
        yield tenant
        tenant.close()

    def make_connector(self, url: str, session: requests.Session, *, timeout: float) -> Connector:
        return successfactors(url, session, timeout=timeout)

    def make_event(self, **changes: Any) -> AwardEvent:
        event = super().make_event(**changes)
        tenant: SuccessFactorsTenant | None = getattr(self, "tenant", None)
        if tenant is not None:
            tenant.add_user(event.learner.hr_ids["employee_id"])
        return event


@pytest.fixture
def tenant() -> Iterator[SuccessFactorsTenant]:
    tenant = start_tenant()
    yield tenant
    tenant.close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def proxy(tenant: SuccessFactorsTenant) -> Iterator[FaultProxy]:
    proxy = FaultProxy(tenant.url)
    yield proxy
    proxy.close()


def award(tenant: SuccessFactorsTenant, **changes: Any) -> AwardEvent:
    event = TestSuccessFactorsContract().make_event(**changes)
    tenant.add_user(event.learner.hr_ids["employee_id"])
    return event


def user(event: AwardEvent) -> str:
    return event.learner.hr_ids["employee_id"]


def test_award_becomes_one_background_entry(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = award(tenant)
    result = successfactors(tenant.url, session).push(event)
    assert result.outcome is Outcome.DELIVERED, result
    [entry] = tenant.entries(user(event))
    assert result.external_id == str(entry["backgroundElementId"])
    assert entry["externalId"] == event.award_id
    assert entry["name"] == event.achievement.name
    assert entry["institution"] == "Example University"
    assert entry["url"] == event.verification_url
    assert from_date(entry["startDate"]) == event.issued_at.astimezone(UTC).date()
    assert event.expires_at is not None
    assert from_date(entry["endDate"]) == event.expires_at.astimezone(UTC).date()
    assert tenant.calls == ["token", "query", "upsert"]


def test_retry_reads_first_and_writes_nothing_new(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = successfactors(tenant.url, session)
    first = connector.push(event)
    again = connector.push(dataclasses.replace(event, external_id=None))
    assert again.outcome is Outcome.DELIVERED
    assert again.external_id == first.external_id
    assert len(tenant.entries(user(event))) == 1
    assert tenant.calls == ["token", "query", "upsert", "query"]  # token reused, no write


def test_update_rewrites_the_same_entry(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = successfactors(tenant.url, session)
    first = connector.push(event)
    renamed = dataclasses.replace(event.achievement, name="Data Literacy I (2026)")
    updated = connector.push(follow_up(event, EventType.UPDATED, achievement=renamed))
    assert updated.outcome is Outcome.DELIVERED, updated
    assert updated.external_id == first.external_id
    assert "updated" in updated.detail
    [entry] = tenant.entries(user(event))
    assert entry["name"] == "Data Literacy I (2026)"


def test_revocation_end_dates_and_retry_is_a_no_op(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = successfactors(tenant.url, session)
    first = connector.push(event)
    revocation = follow_up(event, EventType.REVOKED, external_id=first.external_id)
    assert connector.revoke(revocation).outcome is Outcome.DELIVERED
    [entry] = tenant.entries(user(event))
    assert from_date(entry["endDate"]) == revocation.occurred_at.astimezone(UTC).date()
    assert "already ends" in connector.revoke(revocation).detail
    reinstated = connector.push(follow_up(revocation, EventType.REINSTATED))
    assert reinstated.ok
    [entry] = tenant.entries(user(event))
    assert event.expires_at is not None
    assert from_date(entry["endDate"]) == event.expires_at.astimezone(UTC).date()


def test_revocation_deletes_when_configured(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = successfactors(tenant.url, session, revocation="remove")
    connector.push(event)
    revocation = follow_up(event, EventType.REVOKED)
    deleted = connector.revoke(revocation)
    assert deleted.outcome is Outcome.DELIVERED, deleted
    assert deleted.status_code == 204
    assert tenant.entries(user(event)) == []
    assert "holds no entry" in connector.revoke(revocation).detail
    assert len(tenant.deleted) == 1


def test_unknown_user_is_rejected_with_the_reason(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = TestSuccessFactorsContract().make_event()  # not a SuccessFactors user
    result = successfactors(tenant.url, session).push(event)
    assert result.outcome is Outcome.REJECTED
    assert f"refused the entry for user {user(event)}" in result.detail
    assert "does not exist" in result.detail


def test_field_the_element_lacks_is_rejected(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = award(tenant)
    result = successfactors(tenant.url, session, url_field="credentialUrl").push(event)
    assert result.outcome is Outcome.REJECTED
    assert "credentialUrl" in result.detail  # the read filter passes; the upsert names it


def test_wrong_signing_key_is_unauthorized(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = successfactors(tenant.url, session, key=OTHER_KEY_PEM)
    result = connector.push(event)
    assert result.outcome is Outcome.UNAUTHORIZED
    assert result.status_code == 401
    assert tenant.entries() == []
    assert connector.check().outcome is Outcome.UNAUTHORIZED


def test_wrong_user_or_audience_is_unauthorized(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = award(tenant)
    for extra in ({"user_id": "admin"}, {"audience": "www.example.com"}):
        result = successfactors(tenant.url, session, **extra).push(event)
        assert result.outcome is Outcome.UNAUTHORIZED, extra


def test_server_validates_the_assertion_window_and_signature(tenant: SuccessFactorsTenant) -> None:
    key = serialization.load_pem_private_key(KEY_PEM.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificate(CERT_PEM.encode())

    def token(assertion: str) -> requests.Response:
        form = {
            "company_id": COMPANY,
            "client_id": CLIENT,
            "assertion": assertion,
            "grant_type": "urn:ietf:params:oauth:grant-type:saml2-bearer",
        }
        return requests.post(f"{tenant.url}/oauth/token", data=form, timeout=5)

    def make(**kwargs: Any) -> str:
        return signed_assertion(
            client_id=CLIENT,
            user_id=API_USER,
            token_url=f"{tenant.url}/oauth/token",
            private_key=key,
            certificate=cert,
            **kwargs,
        )

    good = make()
    assert token(good).status_code == 200
    assert token(good).json()["error_description"] == "assertion replayed"
    stale = make(now=datetime.now(UTC) - timedelta(hours=1))
    assert token(stale).json()["error_description"].endswith("expired")
    tampered = base64.b64decode(make()).replace(API_USER.encode(), b"admin")
    refused = token(base64.b64encode(tampered).decode())
    assert refused.status_code == 401
    assert refused.json()["error_description"].startswith("signature")


def test_assertion_shape(
    tenant: SuccessFactorsTenant, session: requests.Session, proxy: FaultProxy
) -> None:
    successfactors(proxy.url, session).check()
    form = parse_qs(proxy.requests[0].body.decode())
    assert proxy.requests[0].path == "/oauth/token"
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:saml2-bearer"]
    assert (form["company_id"], form["client_id"]) == ([COMPANY], [CLIENT])
    assertion = etree.fromstring(base64.b64decode(form["assertion"][0]))
    ns = {"s": SAML}
    assert [etree.QName(child).localname for child in assertion][:3] == [
        "Issuer",
        "Signature",
        "Subject",
    ]
    assert assertion.findtext("s:Issuer", namespaces=ns) == CLIENT
    assert assertion.findtext("s:Subject/s:NameID", namespaces=ns) == API_USER
    audience = "s:Conditions/s:AudienceRestriction/s:Audience"
    assert assertion.findtext(audience, namespaces=ns) == "www.successfactors.com"
    recipient = assertion.find("s:Subject/s:SubjectConfirmation/s:SubjectConfirmationData", ns)
    assert recipient is not None and recipient.get("Recipient") == f"{proxy.url}/oauth/token"
    odata = proxy.requests[1]
    assert odata.headers["authorization"].startswith("Bearer ")
    assert odata.path.startswith(f"/odata/v2/{ENTITY}?")


def test_token_is_reused_and_refreshed_once_after_401(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    connector = successfactors(tenant.url, session)
    first, second = award(tenant), award(tenant)
    assert connector.push(first).ok
    tenant.expire_tokens()  # SuccessFactors revoked it early
    assert connector.push(second).ok
    assert tenant.calls.count("token") == 2
    assert len(tenant.entries()) == 2


def test_rate_limit_is_retried_after_the_delay(
    tenant: SuccessFactorsTenant, session: requests.Session
) -> None:
    event = award(tenant)
    tenant.rate_limit(2, 60)
    result = successfactors(tenant.url, session).push(event)  # token, query pass; upsert 429
    assert result.outcome is Outcome.RETRY
    assert result.status_code == 429
    assert result.retry_after is not None and 50 <= result.retry_after <= 60
    assert tenant.entries() == []


@pytest.mark.parametrize(
    "body",
    [b"<html>maintenance</html>", b'{"d": {}}', b'{"unexpected": true}'],
)
def test_malformed_answers_are_retried(
    tenant: SuccessFactorsTenant, session: requests.Session, proxy: FaultProxy, body: bytes
) -> None:
    event = award(tenant)
    connector = successfactors(proxy.url, session)
    assert connector.check().ok  # token cached; the next call is the read
    proxy.fail_next(200, body=body, headers={"Content-Type": "application/json"})
    result = connector.push(event)
    assert result.outcome is Outcome.RETRY
    assert "unexpected answer" in result.detail
    assert tenant.entries() == []


quote_heavy = st.text(
    alphabet=st.sampled_from(list("ab'\"<>&; é\u00a0")), min_size=1, max_size=20
).filter(lambda value: value.strip() == value)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=quote_heavy, user_id=quote_heavy)
def test_quotes_and_markup_survive_filters_and_bodies(
    tenant: SuccessFactorsTenant, session: requests.Session, name: str, user_id: str
) -> None:
    event = award(tenant, achievement=Achievement(id="https://x.example/a", name=name))
    learner = dataclasses.replace(event.learner, hr_ids={"employee_id": user_id})
    event = dataclasses.replace(event, learner=learner)
    tenant.add_user(user_id)
    connector = successfactors(tenant.url, session)
    assert connector.push(event).ok
    assert connector.push(event).detail.endswith("already says this")
    [entry] = [e for e in tenant.entries(user_id) if e["externalId"] == event.award_id]
    assert entry["name"] == name


def test_odata_helpers() -> None:
    assert literal("O'Brien") == "'O''Brien'"
    day = datetime(2026, 11, 22, tzinfo=UTC).date()
    assert to_date(day) == "/Date(1795305600000)/"
    assert from_date(to_date(day)) == day
    assert from_date("/Date(1795305600000+0000)/") == day
    status = upsert_status(
        {
            "d": [
                {
                    "key": "Background_X/backgroundElementId=7,Background_X/userId=u1",
                    "status": "OK",
                    "editStatus": "INSERTED",
                    "httpCode": 201,
                }
            ]
        }
    )
    assert status.ok and status.key == {"backgroundElementId": "7", "userId": "u1"}


def test_settings_validation_and_redaction(session: requests.Session) -> None:
    ec_key = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(SettingsError) as error:
        successfactors(
            "http://api4.successfactors.com",
            session,
            key=ec_key,
            certificate="nope",
            entity="PerPerson",
            revocation="end_date",
            expires_field=None,
        )
    assert set(error.value.errors) >= {
        "api_url",
        "private_key",
        "certificate",
        "entity",
        "expires_field",
    }
    assert ec_key not in str(error.value)
    connector = successfactors("https://api4.successfactors.com/", session)
    assert connector.tokens.token_url == "https://api4.successfactors.com/oauth/token"
    assert redact(SuccessFactorsSettingsSchema, connector.settings)["private_key"] == REDACTED
    assert KEY_PEM not in repr(connector)


def test_rfc6749_token_refusal_is_unauthorized(
    tenant: SuccessFactorsTenant, session: requests.Session, proxy: FaultProxy
) -> None:
    proxy.fail_next(400, body=b'{"error": "invalid_grant", "error_description": "expired"}')
    result = successfactors(proxy.url, session).push(award(tenant))
    assert result.outcome is Outcome.UNAUTHORIZED
    assert "invalid_grant" in result.detail
    proxy.fail_next(400, body=b'{"error": "invalid_request"}')
    assert successfactors(proxy.url, session).check().outcome is Outcome.REJECTED


def test_malformed_token_answer_is_retried(
    tenant: SuccessFactorsTenant, session: requests.Session, proxy: FaultProxy
) -> None:
    proxy.fail_next(200, body=b'["no token here"]', headers={"Content-Type": "application/json"})
    result = successfactors(proxy.url, session).push(award(tenant))
    assert result.outcome is Outcome.RETRY
    assert "malformed token answer" in result.detail
