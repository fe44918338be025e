"""Record awards as worker certifications in Workday (Talent web service, SOAP 1.1).

Every call goes to ``{tenant_url}/Talent/{version}`` with a WS-Security UsernameToken of the
Integration System User.

* ``push``: read first (``Get_Manage_Certifications`` for the worker), find the
  certification whose ``Certification_Number`` is the award id (or whose id is the
  ``external_id`` of an earlier delivery); identical -> nothing to send; different ->
  update it; absent -> add it (``Manage_Certifications``). A retry after a lost answer
  therefore finds the certification it created and never adds a second one.
  ``external_id`` = the worker certification's ``Certification_Skill_ID``.
* ``revoke``: revoked, suspended and expired awards are end-dated (``Expiration_Date`` =
  the withdrawal date) or removed (``Remove_Certification``), as configured. A
  ``credential.reinstated`` push restores the expiration date (or adds it again).
* Faults: Workday answers SOAP Faults with HTTP 500. Authentication/authorization faults
  are ``UNAUTHORIZED``; other ``Client`` faults (validation, processing: an unknown worker,
  a bad value) are ``REJECTED``; ``Server`` faults, other 5xx, 429 and timeouts are
  ``RETRY``. A 200 answer that is not the expected XML is ``RETRY`` (the next attempt reads
  first, so it cannot duplicate).
* ``check``: a one-row ``Get_Manage_Certifications`` page proves the URL, version and
  credentials without writing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import requests
from lxml import etree

from connectors.base import (
    WITHDRAWING_EVENTS,
    AwardEvent,
    AwardStatus,
    Connector,
    EventType,
    Outcome,
    Result,
)
from connectors.http import result_from_response, scrub, send
from connectors.workday.certifications import (
    CertificationData,
    WorkerCertification,
    get_certifications,
    manage_certification,
    parse_certifications,
    parse_manage_response,
)
from connectors.workday.soap import (
    CONTENT_TYPE,
    Fault,
    MalformedXML,
    UnencodableText,
    as_fault,
    bsvc,
    envelope,
    parse_body,
)
from schemas.connectors.workday import WorkdaySettingsSchema

SERVICE = "Talent"
USER_AGENT = "Microcred-Workday/1"


def _day(moment: datetime | None) -> date | None:
    return moment.astimezone(UTC).date() if moment is not None else None


class WorkdayConnector(Connector):
    key = "workday"
    capabilities: ClassVar[frozenset[str]] = frozenset(str(kind) for kind in EventType)
    settings_schema = WorkdaySettingsSchema

    def __init__(
        self,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        session: requests.Session,
    ) -> None:
        super().__init__(settings, secrets, session)
        password = self.settings["password"]
        self._scrub = (password, escape(password), escape(password, {'"': "&quot;"}))
        self.endpoint = f"{self.settings['tenant_url']}/{SERVICE}/{self.settings['version']}"

    # -- contract ---------------------------------------------------------------------------

    def check(self) -> Result:
        answer = self._call(
            get_certifications(self.settings["version"], None, count=1), what="check"
        )
        if isinstance(answer, Result):
            return answer
        try:
            parse_certifications(answer)
        except MalformedXML as exc:
            return Result(Outcome.RETRY, detail=f"check: unexpected answer: {exc}")
        return Result(
            Outcome.DELIVERED,
            detail=f"check: {SERVICE} {self.settings['version']} reachable, credentials accepted",
            status_code=200,
        )

    def push(self, event: AwardEvent) -> Result:
        refused = self.unsupported(event, "push")
        if refused:
            return refused
        try:
            if event.status is not AwardStatus.ACTIVE:
                return self._withdraw(event, what=str(event.type))
            return self._record(event)
        except UnencodableText as exc:
            return Result(Outcome.REJECTED, detail=f"{event.type}: {exc}")

    def revoke(self, event: AwardEvent) -> Result:
        refused = self.unsupported(event, "revoke")
        if refused:
            return refused
        try:
            return self._withdraw(event, what=str(event.type))
        except UnencodableText as exc:
            return Result(Outcome.REJECTED, detail=f"{event.type}: {exc}")

    # -- the two flows ----------------------------------------------------------------------

    def _record(self, event: AwardEvent) -> Result:
        what = str(event.type)
        worker = self._worker(event)
        if isinstance(worker, Result):
            return worker
        found = self._find(event, worker, what=what)
        if isinstance(found, Result):
            return found
        wanted = self._wanted(event)
        if found is not None and found.matches(wanted):
            return Result(
                Outcome.DELIVERED,
                external_id=found.reference,
                detail=f"{what}: the worker already holds this certification",
                status_code=200,
            )
        request = manage_certification(
            self.settings["version"],
            worker,
            data=wanted,
            existing=found.reference if found else None,
            auto_complete=self.settings["auto_complete"],
        )
        answer = self._call(request, what=what)
        if isinstance(answer, Result):
            return answer
        try:
            reference = parse_manage_response(answer)
        except MalformedXML as exc:
            return Result(Outcome.RETRY, detail=f"{what}: unexpected answer: {exc}")
        verb = "updated" if found else "added"
        return Result(
            Outcome.DELIVERED,
            external_id=reference,
            detail=f"{what}: certification {verb}",
            status_code=200,
        )

    def _withdraw(self, event: AwardEvent, *, what: str) -> Result:
        worker = self._worker(event)
        if isinstance(worker, Result):
            return worker
        found = self._find(event, worker, what=what)
        if isinstance(found, Result):
            return found
        if found is None:
            return Result(
                Outcome.DELIVERED,
                external_id=event.external_id,
                detail=f"{what}: the worker holds no certification for this award",
                status_code=200,
            )
        remove = self.settings["revocation"] == "remove"
        withdrawn_on = _day(event.occurred_at)
        already_ended = (
            found.expires is not None and withdrawn_on is not None and found.expires <= withdrawn_on
        )
        if not remove and already_ended:
            return Result(
                Outcome.DELIVERED,
                external_id=found.reference,
                detail=f"{what}: the certification already ends on {found.expires}",
                status_code=200,
            )
        data = None
        if not remove:
            current = self._wanted(event)
            data = CertificationData(
                number=current.number,
                name=current.name,
                issuer=current.issuer,
                catalog_id=current.catalog_id,
                issued=current.issued,
                expires=withdrawn_on,
            )
        request = manage_certification(
            self.settings["version"],
            worker,
            data=data,
            existing=found.reference,
            remove=remove,
            auto_complete=self.settings["auto_complete"],
        )
        answer = self._call(request, what=what)
        if isinstance(answer, Result):
            return answer
        if answer.tag != bsvc("Manage_Certifications_Response"):
            return Result(Outcome.RETRY, detail=f"{what}: unexpected answer {answer.tag}")
        action = "removed" if remove else f"end-dated {withdrawn_on}"
        return Result(
            Outcome.DELIVERED,
            external_id=found.reference,
            detail=f"{what}: certification {action}",
            status_code=200,
        )

    # -- helpers ----------------------------------------------------------------------------

    def _worker(self, event: AwardEvent) -> tuple[str, str] | Result:
        source = self.settings["worker_id_source"]
        value = event.learner.hr_ids.get(source)
        if not value:
            return Result(
                Outcome.REJECTED,
                detail=f"{event.type}: the learner has no {source!r} HR identifier, so the "
                "Workday worker cannot be found",
            )
        return self.settings["worker_id_type"], value

    def _wanted(self, event: AwardEvent) -> CertificationData:
        catalog_id = self.settings["certification_ids"].get(event.achievement.id)
        expires = _day(event.expires_at)
        if event.type in WITHDRAWING_EVENTS:
            expires = _day(event.occurred_at)
        return CertificationData(
            number=event.award_id,
            # Workday trims text values: send them trimmed so re-reads compare equal
            name=None if catalog_id else event.achievement.name.strip(),
            issuer=None if catalog_id else self.settings["issuer"].strip(),
            catalog_id=catalog_id,
            issued=_day(event.issued_at),
            expires=expires,
        )

    def _find(
        self, event: AwardEvent, worker: tuple[str, str], *, what: str
    ) -> WorkerCertification | Result | None:
        answer = self._call(
            get_certifications(self.settings["version"], worker),
            what=f"{what}: read",
            worker=worker,
        )
        if isinstance(answer, Result):
            return answer
        try:
            held = parse_certifications(answer)
        except MalformedXML as exc:
            return Result(Outcome.RETRY, detail=f"{what}: read: unexpected answer: {exc}")
        for certification in held:
            if certification.number == event.award_id:
                return certification
        for certification in held:
            if event.external_id and certification.reference == event.external_id:
                return certification
        return None

    def _call(
        self, payload: etree._Element, *, what: str, worker: tuple[str, str] | None = None
    ) -> etree._Element | Result:
        body = envelope(
            payload, username=self.settings["username"], password=self.settings["password"]
        )
        response = send(
            self.session,
            "POST",
            self.endpoint,
            timeout=self.settings["timeout"],
            what=what,
            data=body,
            headers={
                "Content-Type": CONTENT_TYPE,
                "SOAPAction": '""',
                "Accept": "text/xml",
                "User-Agent": USER_AGENT,
            },
        )
        if isinstance(response, Result):
            return response
        if response.status_code not in (200, 500):
            return result_from_response(response, secrets=self._scrub, what=what)
        try:
            element = parse_body(response.content)
        except MalformedXML as exc:
            if response.status_code == 200:
                return Result(
                    Outcome.RETRY, detail=f"{what}: unexpected answer: {exc}", status_code=200
                )
            return result_from_response(response, secrets=self._scrub, what=what)
        fault = as_fault(element)
        if fault is not None:
            return self._fault_result(fault, what=what, worker=worker, status=response.status_code)
        if response.status_code != 200:
            return result_from_response(response, secrets=self._scrub, what=what)
        return element

    def _fault_result(
        self, fault: Fault, *, what: str, worker: tuple[str, str] | None, status: int
    ) -> Result:
        text = scrub(fault.describe(), self._scrub)[:300]
        if fault.is_authentication:
            return Result(
                Outcome.UNAUTHORIZED,
                detail=f"{what}: Workday refused the integration user: {text}",
                status_code=status,
            )
        if fault.is_client:
            reason = f"{what}: Workday rejected the request ({fault.code}): {text}"
            if worker is not None and (
                any("Role_Reference" in xpath for xpath in fault.xpaths)
                or any(worker[1] in message for message in fault.messages)
            ):
                reason = f"{what}: worker {worker[0]}={worker[1]} not found in Workday: {text}"
            return Result(Outcome.REJECTED, detail=reason, status_code=status)
        return Result(
            Outcome.RETRY,
            detail=f"{what}: Workday fault ({fault.code}): {text}",
            status_code=status,
        )
