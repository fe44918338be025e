"""Workday connector against the local Talent contract server (tests/connectors/servers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors.base import Achievement, AwardEvent, Connector, EventType, Learner, Outcome
from connectors.settings import REDACTED, SettingsError, redact
from connectors.testing import ConnectorContract, ContractTarget, FaultProxy, follow_up
from connectors.workday import WorkdayConnector
from connectors.workday.soap import BSVC
from schemas.connectors.workday import WorkdaySettingsSchema
from tests.connectors.servers.workday import SCHEMA_PATH, WorkdayTenant

ISU = "ISU_Microcred@acme"
PASSWORD = "s3cret&<pass>'\""  # XML special characters: must survive escaping both ways
ISSUER = "Example University"


def workday(
    url: str, session: requests.Session, *, password: str = PASSWORD, **extra: Any
) -> WorkdayConnector:
    settings = {"tenant_url": url, "username": ISU, "issuer": ISSUER, **extra}
    return WorkdayConnector(settings, {"password": password}, session)


class TestWorkdayContract(ConnectorContract):
    connector_class = WorkdayConnector

    @pytest.fixture
    def target(self) -> Iterator[ContractTarget]:
        tenant = WorkdayTenant(username=ISU, password=PASSWORD)
        self.tenant = tenant
        yield tenant
        tenant.close()

    def make_connector(self, url: str, session: requests.Session, *, timeout: float) -> Connector:
        return workday(url, session, timeout=timeout)

    def make_event(self, **changes: Any) -> AwardEvent:
        event = super().make_event(**changes)
        tenant: WorkdayTenant | None = getattr(self, "tenant", None)
        if tenant is not None and tenant.worker(event.learner.hr_ids["employee_id"]) is None:
            tenant.add_worker(event.learner.hr_ids["employee_id"])
        return event


@pytest.fixture
def tenant() -> Iterator[WorkdayTenant]:
    tenant = WorkdayTenant(username=ISU, password=PASSWORD, catalog={"CERT-DL1": "Data Lit"})
    yield tenant
    tenant.close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def award(tenant: WorkdayTenant, **changes: Any) -> AwardEvent:
    event = TestWorkdayContract().make_event(**changes)
    tenant.add_worker(event.learner.hr_ids["employee_id"])
    return event


def employee(event: AwardEvent) -> str:
    return event.learner.hr_ids["employee_id"]


def test_award_becomes_one_certification_with_our_reference(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant)
    result = workday(tenant.url, session).push(event)
    assert result.outcome is Outcome.DELIVERED, result
    [cert] = tenant.certifications(employee(event))
    assert result.external_id == cert.skill_id
    assert (cert.number, cert.name, cert.issuer) == (event.award_id, event.achievement.name, ISSUER)
    assert cert.issued == event.issued_at.astimezone(UTC).date()
    assert event.expires_at is not None
    assert cert.expires == event.expires_at.astimezone(UTC).date()
    assert tenant.requests == ["Get_Manage_Certifications_Request", "Manage_Certifications_Request"]


def test_retry_after_lost_answer_reads_first_and_adds_nothing(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = workday(tenant.url, session)
    first = connector.push(event)
    # the sync engine never saw `first` (say the answer was lost): same event, no external id
    again = connector.push(dataclasses.replace(event, external_id=None))
    assert again.outcome is Outcome.DELIVERED
    assert again.external_id == first.external_id
    assert "already holds" in again.detail
    assert len(tenant.certifications(employee(event))) == 1
    assert tenant.requests[-1] == "Get_Manage_Certifications_Request"  # no second write


def test_update_changes_the_same_certification(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = workday(tenant.url, session)
    first = connector.push(event)
    renamed = dataclasses.replace(event.achievement, name="Data Literacy I (2026)")
    update = follow_up(event, EventType.UPDATED, achievement=renamed, external_id=first.external_id)
    updated = connector.push(update)
    assert updated.outcome is Outcome.DELIVERED, updated
    assert updated.external_id == first.external_id
    [cert] = tenant.certifications(employee(event))
    assert cert.name == "Data Literacy I (2026)"


def test_revocation_end_dates_and_reinstatement_restores(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = workday(tenant.url, session)
    first = connector.push(event)
    revocation = follow_up(event, EventType.REVOKED, external_id=first.external_id)
    result = connector.revoke(revocation)
    assert result.outcome is Outcome.DELIVERED, result
    [cert] = tenant.certifications(employee(event))
    assert cert.expires == revocation.occurred_at.astimezone(UTC).date()
    assert "already ends" in connector.revoke(revocation).detail  # a retry changes nothing
    reinstated = follow_up(revocation, EventType.REINSTATED, external_id=first.external_id)
    assert connector.push(reinstated).outcome is Outcome.DELIVERED
    [cert] = tenant.certifications(employee(event))
    assert event.expires_at is not None
    assert cert.expires == event.expires_at.astimezone(UTC).date()


def test_revocation_removes_when_configured(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = workday(tenant.url, session, revocation="remove")
    first = connector.push(event)
    revocation = follow_up(event, EventType.REVOKED, external_id=first.external_id)
    removed = connector.revoke(revocation)
    assert removed.outcome is Outcome.DELIVERED, removed
    assert "removed" in removed.detail
    assert tenant.certifications(employee(event)) == []
    again = connector.revoke(revocation)
    assert again.outcome is Outcome.DELIVERED
    assert "holds no certification" in again.detail
    assert len(tenant.removals) == 1


def test_catalog_certification_is_referenced_by_id(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant)
    catalog = {event.achievement.id: "CERT-DL1"}
    result = workday(tenant.url, session, certification_ids=catalog).push(event)
    assert result.outcome is Outcome.DELIVERED, result
    [cert] = tenant.certifications(employee(event))
    assert (cert.catalog_id, cert.name, cert.issuer) == ("CERT-DL1", None, None)


def test_unknown_catalog_id_is_rejected(tenant: WorkdayTenant, session: requests.Session) -> None:
    event = award(tenant)
    connector = workday(tenant.url, session, certification_ids={event.achievement.id: "NOPE"})
    result = connector.push(event)
    assert result.outcome is Outcome.REJECTED
    assert "validationError" in result.detail
    assert "NOPE" in result.detail


def test_unknown_worker_is_rejected_with_a_clear_reason(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = TestWorkdayContract().make_event()  # its worker is not in the tenant
    result = workday(tenant.url, session).push(event)
    assert result.outcome is Outcome.REJECTED
    assert f"worker Employee_ID={employee(event)} not found in Workday" in result.detail
    assert result.status_code == 500  # Workday's SOAP faults come with HTTP 500


def test_learner_without_the_configured_hr_id_is_rejected(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant)
    connector = workday(tenant.url, session, worker_id_source="workday_wid")
    result = connector.push(event)
    assert result.outcome is Outcome.REJECTED
    assert "no 'workday_wid' HR identifier" in result.detail
    assert tenant.requests == []


def test_other_worker_id_types(tenant: WorkdayTenant, session: requests.Session) -> None:
    event = TestWorkdayContract().make_event()
    tenant.add_worker("CW-77", id_type="Contingent_Worker_ID")
    learner = Learner(
        platform_issuer="https://lms.example.edu", sub="cw", hr_ids={"contractor_id": "CW-77"}
    )
    connector = workday(
        tenant.url, session, worker_id_type="Contingent_Worker_ID", worker_id_source="contractor_id"
    )
    assert connector.push(dataclasses.replace(event, learner=learner)).ok
    assert len(tenant.certifications("CW-77")) == 1


def test_bad_password_is_unauthorized_and_never_echoed(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant)
    result = workday(tenant.url, session, password="wrong <&> password").push(event)
    assert result.outcome is Outcome.UNAUTHORIZED
    assert "invalid username or password" in result.detail
    assert "wrong" not in result.detail
    bad = workday(tenant.url, session, password="wrong").check()
    assert bad.outcome is Outcome.UNAUTHORIZED


def test_server_fault_is_retried(tenant: WorkdayTenant, session: requests.Session) -> None:
    event = award(tenant)
    tenant.fail_next_server()
    result = workday(tenant.url, session).push(event)
    assert result.outcome is Outcome.RETRY
    assert result.status_code == 500
    assert tenant.stored_count(event) == 0
    assert workday(tenant.url, session).push(event).ok


def test_rate_limit_answer_is_retried_after_the_delay(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant)
    tenant.rate_limit(1, 60)
    result = workday(tenant.url, session).push(event)  # the read passes, the write is refused
    assert result.outcome is Outcome.RETRY
    assert result.status_code == 429
    assert result.retry_after is not None and 50 <= result.retry_after <= 60
    assert tenant.stored_count(event) == 0


@pytest.fixture
def proxy(tenant: WorkdayTenant) -> Iterator[FaultProxy]:
    proxy = FaultProxy(tenant.url)
    yield proxy
    proxy.close()


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Service temporarily unavailable</body></html>",
        b"not xml at all",
        b'<?xml version="1.0"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<env:Body><wd:Something_Else xmlns:wd="urn:com.workday/bsvc"/></env:Body></env:Envelope>',
    ],
)
def test_malformed_200_answer_is_retried(
    tenant: WorkdayTenant, session: requests.Session, proxy: FaultProxy, body: bytes
) -> None:
    event = award(tenant)
    proxy.fail_next(200, body=body, headers={"Content-Type": "text/xml"})
    result = workday(proxy.url, session).push(event)
    assert result.outcome is Outcome.RETRY
    assert "unexpected answer" in result.detail
    assert tenant.stored_count(event) == 0


def test_malformed_500_without_fault_is_retried(
    tenant: WorkdayTenant, session: requests.Session, proxy: FaultProxy
) -> None:
    event = award(tenant)
    proxy.fail_next(500, body=b"<h1>Internal error</h1>")
    result = workday(proxy.url, session).push(event)
    assert result.outcome is Outcome.RETRY
    assert result.status_code == 500


def test_requests_follow_the_published_schema(
    tenant: WorkdayTenant, session: requests.Session, proxy: FaultProxy
) -> None:
    event = award(tenant)
    connector = workday(proxy.url, session)
    first = connector.push(event)
    connector.revoke(follow_up(event, EventType.REVOKED, external_id=first.external_id))
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
    bodies = [r for r in proxy.requests if r.method == "POST"]
    assert len(bodies) == 4  # read, add, read, end-date
    for recorded in bodies:
        assert recorded.headers["content-type"].startswith("text/xml")
        assert "soapaction" in recorded.headers
        assert recorded.path.endswith("/Talent/v41.0")
        envelope = etree.fromstring(recorded.body)
        body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        assert body is not None
        [payload] = list(body)
        schema.assertValid(payload)
        assert payload.get(f"{{{BSVC}}}version") == "v41.0"


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=40,
).filter(lambda value: value.strip() != "")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=texts, issuer=texts)
def test_xml_special_characters_arrive_intact(
    tenant: WorkdayTenant, session: requests.Session, name: str, issuer: str
) -> None:
    event = award(tenant, achievement=Achievement(id="https://x.example/a", name=name))
    connector = workday(tenant.url, session, issuer=issuer)
    assert connector.push(event).outcome is Outcome.DELIVERED
    [cert] = tenant.certifications(employee(event))
    assert (cert.name, cert.issuer) == (name.strip(), issuer.strip())
    assert connector.push(event).detail.endswith("already holds this certification")


def test_injection_attempt_stays_text(tenant: WorkdayTenant, session: requests.Session) -> None:
    hostile = (
        "</bsvc:Certification_Name><bsvc:Remove_Certification>true</bsvc:Remove_Certification>"
    )
    event = award(tenant, achievement=Achievement(id="https://x.example/a", name=hostile))
    assert workday(tenant.url, session).push(event).ok
    [cert] = tenant.certifications(employee(event))
    assert cert.name == hostile


def test_settings_validation_and_redaction(session: requests.Session) -> None:
    with pytest.raises(SettingsError) as error:
        WorkdayConnector(
            {
                "tenant_url": "http://wd.example.com/ccx/service/acme",
                "username": ISU,
                "issuer": ISSUER,
                "version": "41",
                "worker_id_type": "Email",
            },
            {"password": PASSWORD},
            session,
        )
    assert set(error.value.errors) == {"tenant_url", "version", "worker_id_type"}
    with pytest.raises(SettingsError, match="Is a secret"):
        WorkdayConnector(
            {
                "tenant_url": "https://wd.example.com/ccx/service/acme",
                "username": ISU,
                "issuer": ISSUER,
                "password": "x",
            },
            {},
            session,
        )
    connector = workday("https://wd.example.com/ccx/service/acme/", session)
    assert connector.endpoint == "https://wd.example.com/ccx/service/acme/Talent/v41.0"
    assert redact(WorkdaySettingsSchema, connector.settings)["password"] == REDACTED
    assert PASSWORD not in repr(connector)


def test_expired_event_end_dates(tenant: WorkdayTenant, session: requests.Session) -> None:
    event = award(tenant)
    connector = workday(tenant.url, session)
    first = connector.push(event)
    later = event.occurred_at + timedelta(days=3)
    expiry = follow_up(event, EventType.EXPIRED, occurred_at=later, external_id=first.external_id)
    assert connector.revoke(expiry).ok
    [cert] = tenant.certifications(employee(event))
    assert cert.expires == later.astimezone(UTC).date()


def test_text_xml_cannot_carry_is_rejected_before_sending(
    tenant: WorkdayTenant, session: requests.Session
) -> None:
    event = award(tenant, achievement=Achievement(id="https://x.example/a", name="Bad\x0bname"))
    result = workday(tenant.url, session).push(event)
    assert result.outcome is Outcome.REJECTED
    assert "Certification_Name holds characters XML 1.0 cannot carry" in result.detail
    assert tenant.requests == ["Get_Manage_Certifications_Request"]
