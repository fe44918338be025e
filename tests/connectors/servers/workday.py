"""A local Workday Talent web service that enforces the contract the connector relies on.

It listens on 127.0.0.1 at ``/ccx/service/{tenant}/Talent/{version}`` and behaves like a
tenant's SOAP endpoint:

* HTTP: POST only (405), ``Content-Type: text/xml`` (SOAP 1.1; else 415), a ``SOAPAction``
  header present (WS-I Basic Profile; else 400), unknown tenant/service paths 404.
* SOAP: a SOAP 1.1 envelope whose header carries a WS-Security ``UsernameToken`` with a
  ``PasswordText`` password; the body's request element is validated against
  ``workday_talent.xsd`` (transcribed from Workday's published schema). Faults come back as
  Workday sends them: HTTP 500 with ``SOAP-ENV:Client.authenticationError`` (bad user or
  password), ``SOAP-ENV:Client.validationError`` with ``wd:Validation_Fault`` (schema
  errors, unknown workers or certifications), ``SOAP-ENV:Server`` (``fail_next_server``).
* Rate limit (optional): more than ``limit`` requests within ``window`` seconds get 429
  with ``Retry-After``.
* State: workers by ID, their certifications by ``Certification_Skill_ID``; a removal log.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.base import WITHDRAWING_EVENTS, AwardEvent
from connectors.testing import LocalServer, QuietHandler
from connectors.workday.soap import BSVC, PASSWORD_TEXT, SOAP_ENV, WSSE, bsvc

SCHEMA_PATH = Path(__file__).with_name("workday_talent.xsd")
SERVICE = "Talent"
WORKER_ID_TYPES = ("Employee_ID", "Contingent_Worker_ID", "WID")


class SoapFault(Exception):
    def __init__(
        self,
        code: str,
        string: str,
        *,
        messages: tuple[str, ...] = (),
        xpath: str | None = None,
        kind: str | None = "Validation_Fault",
    ) -> None:
        super().__init__(string)
        self.code, self.string, self.messages, self.xpath, self.kind = (
            code,
            string,
            messages,
            xpath,
            kind,
        )

    def envelope(self) -> bytes:
        root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"SOAP-ENV": SOAP_ENV, "wd": BSVC})
        body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
        fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
        etree.SubElement(fault, "faultcode").text = f"SOAP-ENV:{self.code}"
        etree.SubElement(fault, "faultstring").text = self.string
        if self.kind is not None:
            holder = etree.SubElement(etree.SubElement(fault, "detail"), bsvc(self.kind))
            for message in self.messages or (self.string,):
                error = etree.SubElement(holder, bsvc("Validation_Error"))
                etree.SubElement(error, bsvc("Message")).text = message
                etree.SubElement(error, bsvc("Detail_Message")).text = message
                if self.xpath:
                    etree.SubElement(error, bsvc("Xpath")).text = self.xpath
        document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return document


def validation(message: str, xpath: str | None = None) -> SoapFault:
    return SoapFault(
        "Client.validationError",
        "Validation error occurred. " + message,
        messages=(message,),
        xpath=xpath,
    )


@dataclass
class Certification:
    skill_id: str
    wid: str
    number: str | None
    name: str | None
    issuer: str | None
    catalog_id: str | None
    issued: date | None
    expires: date | None


@dataclass
class Worker:
    ids: dict[str, str]  # ID type -> value (always has WID)
    certifications: dict[str, Certification] = field(default_factory=dict)


@dataclass(frozen=True)
class Removal:
    worker: str
    certification: Certification


class WorkdayTenant:
    """The tenant's state and its SOAP endpoint (see the module docstring)."""

    def __init__(
        self,
        *,
        tenant: str = "acme",
        username: str,
        password: str,
        catalog: dict[str, str] | None = None,
    ) -> None:
        self.tenant = tenant
        self.username, self.password = username, password
        self.catalog = dict(catalog or {})  # Certification_ID -> name
        self.schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
        self.workers: list[Worker] = []
        self.removals: list[Removal] = []
        self.requests: list[str] = []  # operation names, in arrival order
        self.limit: tuple[int, float] | None = None
        self._hits: deque[float] = deque()
        self._server_faults = 0
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        tenant_state = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                status, body, headers = tenant_state.handle(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, self.read_body()
                )
                self.reply(status, body, headers)

            def do_GET(self) -> None:
                self.reply(405, b"POST only", {"Allow": "POST"})

            do_PUT = do_DELETE = do_PATCH = do_GET

        self._server = LocalServer(Handler)
        self.url = f"{self._server.base_url}/ccx/service/{tenant}"

    # -- test controls ----------------------------------------------------------------------

    def add_worker(self, value: str, id_type: str = "Employee_ID") -> Worker:
        with self._lock:
            worker = Worker(ids={id_type: value, "WID": f"wid-{next(self._ids):08x}"})
            self.workers.append(worker)
            return worker

    def rate_limit(self, limit: int, window: float) -> None:
        self.limit = (limit, window)

    def fail_next_server(self, times: int = 1) -> None:
        self._server_faults += times

    def worker(self, value: str) -> Worker | None:
        with self._lock:
            return next((w for w in self.workers if value in w.ids.values()), None)

    def certifications(self, value: str) -> list[Certification]:
        worker = self.worker(value)
        return list(worker.certifications.values()) if worker else []

    def stored_count(self, event: AwardEvent) -> int:
        """Certifications of the award; for withdrawals: end-dated ones plus removals."""
        with self._lock:
            held = [
                c
                for w in self.workers
                for c in w.certifications.values()
                if c.number == event.award_id
            ]
            if event.type not in WITHDRAWING_EVENTS:
                return len(held)
            withdrawn_on = event.occurred_at.astimezone(UTC).date()
            ended = [c for c in held if c.expires is not None and c.expires <= withdrawn_on]
            removed = [r for r in self.removals if r.certification.number == event.award_id]
            return len(ended) + len(removed)

    def close(self) -> None:
        self._server.close()

    # -- HTTP + SOAP ------------------------------------------------------------------------

    def handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        xml = {"Content-Type": "text/xml; charset=utf-8"}
        expected = f"/ccx/service/{self.tenant}/{SERVICE}/"
        if not path.startswith(expected) or not path[len(expected) :]:
            return 404, b"Not found", {"Content-Type": "text/plain"}
        throttled = self._throttle()
        if throttled is not None:
            return 429, b"Too many requests", {"Retry-After": str(throttled)}
        if not headers.get("content-type", "").startswith("text/xml"):
            return 415, b"SOAP 1.1 needs Content-Type: text/xml", {"Content-Type": "text/plain"}
        if "soapaction" not in headers:
            return 400, b"Missing SOAPAction header", {"Content-Type": "text/plain"}
        try:
            answer = self._dispatch(body)
        except SoapFault as fault:
            return 500, fault.envelope(), xml
        root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"env": SOAP_ENV, "wd": BSVC})
        etree.SubElement(root, f"{{{SOAP_ENV}}}Body").append(answer)
        return 200, etree.tostring(root, xml_declaration=True, encoding="UTF-8"), xml

    def _throttle(self) -> int | None:
        if self.limit is None:
            return None
        limit, window = self.limit
        now = time.monotonic()
        with self._lock:
            while self._hits and self._hits[0] <= now - window:
                self._hits.popleft()
            if len(self._hits) >= limit:
                return max(1, math.ceil(self._hits[0] + window - now))
            self._hits.append(now)
        return None

    def _dispatch(self, body: bytes) -> etree._Element:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        try:
            root = etree.fromstring(body, parser=parser)
        except etree.XMLSyntaxError as exc:
            raise SoapFault("Client", f"Malformed XML: {exc.msg}", kind=None) from None
        if root.tag != f"{{{SOAP_ENV}}}Envelope":
            raise SoapFault("VersionMismatch", "Not a SOAP 1.1 envelope", kind=None)
        self._authenticate(root)
        if self._server_faults:
            self._server_faults -= 1
            raise SoapFault("Server", "An internal error occurred.", kind=None)
        body_element = root.find(f"{{{SOAP_ENV}}}Body")
        payloads = (
            []
            if body_element is None
            else [child for child in body_element if isinstance(child.tag, str)]
        )
        if len(payloads) != 1:
            raise validation("The SOAP Body must hold exactly one request element.")
        payload = payloads[0]
        if not self.schema.validate(payload):
            errors = tuple(
                line.split(": ", 1)[-1] for line in str(self.schema.error_log).splitlines()
            )
            raise validation("; ".join(errors[:3]), xpath=etree.QName(payload).localname)
        operation = etree.QName(payload).localname
        with self._lock:
            self.requests.append(operation)
            if operation == "Get_Manage_Certifications_Request":
                return self._get(payload)
            if operation == "Manage_Certifications_Request":
                return self._manage(payload)
        raise validation(f"Operation {operation} is not part of this contract.")

    def _authenticate(self, root: etree._Element) -> None:
        token = root.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        denied = SoapFault("Client.authenticationError", "invalid username or password", kind=None)
        if token is None:
            raise denied
        user = token.findtext(f"{{{WSSE}}}Username")
        secret = token.find(f"{{{WSSE}}}Password")
        if secret is None or secret.get("Type", PASSWORD_TEXT) != PASSWORD_TEXT:
            raise denied
        if user != self.username or secret.text != self.password:
            raise denied

    # -- operations -------------------------------------------------------------------------

    def _role(self, reference: etree._Element, xpath: str) -> Worker:
        for item in reference.findall(bsvc("ID")):
            kind, value = item.get(bsvc("type")), (item.text or "").strip()
            worker = next(
                (w for w in self.workers if kind is not None and w.ids.get(kind) == value), None
            )
            if worker is not None:
                return worker
            raise validation(
                f"Invalid ID value. '{value}' is not a valid ID value for type = '{kind}'",
                xpath=xpath,
            )
        raise validation("Role_Reference carries no ID.", xpath=xpath)

    def _get(self, payload: etree._Element) -> etree._Element:
        references = payload.findall(f"{bsvc('Request_References')}/{bsvc('Role_Reference')}")
        if references:
            workers = [
                self._role(
                    ref,
                    "/bsvc:Get_Manage_Certifications_Request[1]/"
                    "bsvc:Request_References[1]/bsvc:Role_Reference[1]",
                )
                for ref in references
            ]
        else:
            count = payload.findtext(f"{bsvc('Response_Filter')}/{bsvc('Count')}")
            workers = self.workers[: int(float(count))] if count else list(self.workers)
        response = etree.Element(bsvc("Get_Manage_Certifications_Response"))
        response.set(bsvc("version"), payload.get(bsvc("version"), ""))
        results = etree.SubElement(response, bsvc("Response_Results"))
        etree.SubElement(results, bsvc("Total_Results")).text = str(len(workers))
        data = etree.SubElement(response, bsvc("Response_Data"))
        for worker in workers:
            manage = etree.SubElement(
                etree.SubElement(data, bsvc("Manage_Certifications")),
                bsvc("Manage_Certifications_Data"),
            )
            _ref(manage, "Role_Reference", worker.ids)
            for cert in worker.certifications.values():
                element = etree.SubElement(manage, bsvc("Certification"))
                _ref(
                    element,
                    "Certification_Reference",
                    {"WID": cert.wid, "Certification_Skill_ID": cert.skill_id},
                )
                fields = etree.SubElement(element, bsvc("Certification_Data"))
                etree.SubElement(fields, bsvc("Certification_ID")).text = cert.skill_id
                if cert.catalog_id:
                    _ref(fields, "Certification_Reference", {"Certification_ID": cert.catalog_id})
                for name, value in (
                    ("Certification_Name", cert.name),
                    ("Issuer", cert.issuer),
                    ("Certification_Number", cert.number),
                    # Workday appends the tenant's zone offset to dates
                    ("Issued_Date", f"{cert.issued.isoformat()}-08:00" if cert.issued else None),
                    (
                        "Expiration_Date",
                        f"{cert.expires.isoformat()}-08:00" if cert.expires else None,
                    ),
                ):
                    if value is not None:
                        etree.SubElement(fields, bsvc(name)).text = value
        return response

    def _manage(self, payload: etree._Element) -> etree._Element:
        data = payload.find(bsvc("Manage_Certifications_Data"))
        assert data is not None  # the schema requires it
        base = "/bsvc:Manage_Certifications_Request[1]/bsvc:Manage_Certifications_Data[1]"
        role = data.find(bsvc("Role_Reference"))
        assert role is not None  # the schema requires it
        worker = self._role(role, f"{base}/bsvc:Role_Reference[1]")
        touched: list[Certification] = []
        for position, element in enumerate(data.findall(bsvc("Certification")), start=1):
            xpath = f"{base}/bsvc:Certification[{position}]"
            fields = element.find(bsvc("Certification_Data"))
            assert fields is not None
            existing = self._existing(worker, element.find(bsvc("Certification_Reference")), xpath)
            if fields.findtext(bsvc("Remove_Certification")) in ("true", "1"):
                if existing is None:
                    raise validation(
                        "Remove_Certification needs a Certification_Reference.", xpath=xpath
                    )
                del worker.certifications[existing.skill_id]
                self.removals.append(Removal(worker.ids["WID"], existing))
                continue
            values = self._values(fields, xpath)
            if existing is None:
                serial = next(self._ids)
                cert = Certification(
                    skill_id=f"CERTIFICATION_SKILL-6-{serial}", wid=f"{serial:032x}", **values
                )
                worker.certifications[cert.skill_id] = cert
            else:
                cert = replace(existing, **values)
                worker.certifications[cert.skill_id] = cert
            touched.append(cert)
        response = etree.Element(bsvc("Manage_Certifications_Response"))
        response.set(bsvc("version"), payload.get(bsvc("version"), ""))
        _ref(response, "Worker_Certification_Event_Reference", {"WID": f"{next(self._ids):032x}"})
        for cert in touched:
            _ref(
                response,
                "Certification_Reference",
                {"WID": cert.wid, "Certification_Skill_ID": cert.skill_id},
            )
        return response

    def _existing(
        self, worker: Worker, reference: etree._Element | None, xpath: str
    ) -> Certification | None:
        if reference is None:
            return None
        for item in reference.findall(bsvc("ID")):
            kind, value = item.get(bsvc("type")), (item.text or "").strip()
            for cert in worker.certifications.values():
                if (kind, value) in (("WID", cert.wid), ("Certification_Skill_ID", cert.skill_id)):
                    return cert
            raise validation(
                f"Invalid ID value. '{value}' is not a valid ID value for type = '{kind}'",
                xpath=f"{xpath}/bsvc:Certification_Reference[1]",
            )
        return None

    def _values(self, fields: etree._Element, xpath: str) -> dict[str, Any]:
        catalog = fields.find(f"{bsvc('Certification_Reference')}/{bsvc('ID')}")
        catalog_id = (catalog.text or "").strip() if catalog is not None else None
        name, issuer = fields.findtext(bsvc("Certification_Name")), fields.findtext(bsvc("Issuer"))
        if catalog_id is not None and catalog_id not in self.catalog:
            raise validation(
                f"Invalid ID value. '{catalog_id}' is not a valid ID value for "
                "type = 'Certification_ID'",
                xpath=f"{xpath}/bsvc:Certification_Data",
            )
        if catalog_id is None and not (name and issuer):
            raise validation(
                "Certification Name and Issuer are required when no Certification is referenced.",
                xpath=f"{xpath}/bsvc:Certification_Data",
            )
        issued = _date(fields.findtext(bsvc("Issued_Date")))
        expires = _date(fields.findtext(bsvc("Expiration_Date")))
        if issued and expires and expires < issued:
            raise validation(
                "Expiration Date must be on or after Issued Date.",
                xpath=f"{xpath}/bsvc:Certification_Data",
            )
        return {
            "number": fields.findtext(bsvc("Certification_Number")),
            "name": name,
            "issuer": issuer,
            "catalog_id": catalog_id,
            "issued": issued,
            "expires": expires,
        }


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None


def _ref(parent: etree._Element, name: str, ids: dict[str, str]) -> None:
    reference = etree.SubElement(parent, bsvc(name))
    for kind, value in ids.items():
        item = etree.SubElement(reference, bsvc("ID"))
        item.set(bsvc("type"), kind)
        item.text = value


def running(**kwargs: Any) -> Iterator[WorkdayTenant]:
    tenant = WorkdayTenant(**kwargs)
    try:
        yield tenant
    finally:
        tenant.close()
