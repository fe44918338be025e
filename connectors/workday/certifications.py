"""Talent web service requests for worker certifications, and their responses.

Element names and order follow Workday's published Talent schema (``urn:com.workday/bsvc``):

* ``Get_Manage_Certifications_Request``: ``Request_References/Role_Reference``,
  ``Response_Filter``; the response lists ``Response_Data/Manage_Certifications/
  Manage_Certifications_Data`` with one ``Certification`` per certification the worker holds.
* ``Manage_Certifications_Request``: ``Business_Process_Parameters``,
  ``Manage_Certifications_Data{Role_Reference, Certification*}``; a ``Certification`` is
  ``Certification_Reference`` (the worker's existing certification: update or remove it;
  absent: add one) and ``Certification_Data`` (``Certification_ID``, ``Remove_Certification``,
  ``Certification_Reference`` to the catalog, ``Certification_Name``, ``Issuer``,
  ``Certification_Number``, ``Issued_Date``, ``Expiration_Date``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lxml import etree

from connectors.workday.soap import BSVC, MalformedXML, bsvc, sub

SKILL_ID_TYPE = "Certification_Skill_ID"  # the id of a worker's certification
CATALOG_ID_TYPE = "Certification_ID"  # the id of a catalog certification


@dataclass(frozen=True, slots=True)
class CertificationData:
    """What Microcred wants a worker's certification to say."""

    number: str  # our reference: the award id, in Certification_Number
    name: str | None = None
    issuer: str | None = None
    catalog_id: str | None = None
    issued: date | None = None
    expires: date | None = None


@dataclass(frozen=True, slots=True)
class WorkerCertification:
    """One certification a worker holds, as the Talent service reports it."""

    reference: str  # Certification_Skill_ID (or WID when Workday gives no other id)
    number: str | None
    name: str | None
    issuer: str | None
    catalog_id: str | None
    issued: date | None
    expires: date | None

    def matches(self, wanted: CertificationData) -> bool:
        """True when nothing needs changing to make this certification say ``wanted``."""
        same_title = (
            self.catalog_id == wanted.catalog_id
            if wanted.catalog_id
            else (self.name, self.issuer) == (wanted.name, wanted.issuer)
        )
        return same_title and (self.issued, self.expires) == (wanted.issued, wanted.expires)


def _request(name: str, version: str) -> etree._Element:
    element = etree.Element(bsvc(name), nsmap={"bsvc": BSVC})
    element.set(bsvc("version"), version)
    return element


def _reference(parent: etree._Element, name: str, id_type: str, value: str) -> None:
    ref = sub(parent, name)
    sub(ref, "ID", value).set(bsvc("type"), id_type)


def get_certifications(
    version: str, worker: tuple[str, str] | None, *, count: int | None = None
) -> etree._Element:
    """``Get_Manage_Certifications_Request`` for one worker (``(id_type, id)``) or a page."""
    request = _request("Get_Manage_Certifications_Request", version)
    if worker is not None:
        references = sub(request, "Request_References")
        _reference(references, "Role_Reference", *worker)
    if count is not None:
        response_filter = sub(request, "Response_Filter")
        sub(response_filter, "Page", "1")
        sub(response_filter, "Count", str(count))
    return request


def manage_certification(
    version: str,
    worker: tuple[str, str],
    *,
    data: CertificationData | None,
    existing: str | None = None,
    remove: bool = False,
    auto_complete: bool = True,
) -> etree._Element:
    """``Manage_Certifications_Request`` adding, updating (``existing``) or removing one."""
    request = _request("Manage_Certifications_Request", version)
    parameters = sub(request, "Business_Process_Parameters")
    flag = "true" if auto_complete else "false"
    sub(parameters, "Auto_Complete", flag)
    sub(parameters, "Run_Now", flag)
    manage = sub(request, "Manage_Certifications_Data")
    _reference(manage, "Role_Reference", *worker)
    certification = sub(manage, "Certification")
    if existing is not None:
        _reference(certification, "Certification_Reference", SKILL_ID_TYPE, existing)
    fields = sub(certification, "Certification_Data")
    if existing is not None:
        sub(fields, "Certification_ID", existing)
    if remove:
        sub(fields, "Remove_Certification", "true")
        return request
    if data is None:
        raise ValueError("data is required unless the certification is removed")
    if data.catalog_id:
        _reference(fields, "Certification_Reference", CATALOG_ID_TYPE, data.catalog_id)
    else:
        sub(fields, "Certification_Name", data.name or "")
        sub(fields, "Issuer", data.issuer or "")
    sub(fields, "Certification_Number", data.number)
    if data.issued is not None:
        sub(fields, "Issued_Date", data.issued.isoformat())
    if data.expires is not None:
        sub(fields, "Expiration_Date", data.expires.isoformat())
    return request


def parse_date(text: str | None) -> date | None:
    """An ``xsd:date``; Workday may append a zone offset (``2026-01-31-08:00``)."""
    if not text or not text.strip():
        return None
    value = text.strip()
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise MalformedXML(f"{value!r} is not an xsd:date") from None


def _id(reference: etree._Element | None, *types: str) -> str | None:
    if reference is None:
        return None
    ids = {item.get(bsvc("type")): (item.text or "").strip() for item in reference.iter(bsvc("ID"))}
    for kind in types:
        if ids.get(kind):
            return ids[kind]
    return None


def _text(element: etree._Element, name: str) -> str | None:
    value = element.findtext(bsvc(name))
    return value.strip() if value and value.strip() else None


def parse_certifications(response: etree._Element) -> list[WorkerCertification]:
    """The certifications in a ``Get_Manage_Certifications_Response``."""
    if response.tag != bsvc("Get_Manage_Certifications_Response"):
        raise MalformedXML(f"expected Get_Manage_Certifications_Response, got {response.tag}")
    found: list[WorkerCertification] = []
    for certification in response.iter(bsvc("Certification")):
        reference = _id(certification.find(bsvc("Certification_Reference")), SKILL_ID_TYPE, "WID")
        fields = certification.find(bsvc("Certification_Data"))
        if fields is None:
            raise MalformedXML("a Certification without Certification_Data")
        reference = reference or _text(fields, "Certification_ID")
        if reference is None:
            raise MalformedXML("a Certification without a Certification_Skill_ID")
        found.append(
            WorkerCertification(
                reference=reference,
                number=_text(fields, "Certification_Number"),
                name=_text(fields, "Certification_Name"),
                issuer=_text(fields, "Issuer"),
                catalog_id=_id(fields.find(bsvc("Certification_Reference")), CATALOG_ID_TYPE),
                issued=parse_date(fields.findtext(bsvc("Issued_Date"))),
                expires=parse_date(fields.findtext(bsvc("Expiration_Date"))),
            )
        )
    return found


def parse_manage_response(response: etree._Element) -> str:
    """The worker certification id a ``Manage_Certifications_Response`` names."""
    if response.tag != bsvc("Manage_Certifications_Response"):
        raise MalformedXML(f"expected Manage_Certifications_Response, got {response.tag}")
    for reference in response.findall(bsvc("Certification_Reference")):
        found = _id(reference, SKILL_ID_TYPE, "WID")
        if found:
            return found
    raise MalformedXML("Manage_Certifications_Response names no Certification_Reference")
