"""LinkedIn's Add-to-Profile URL for a certification. Pure: no I/O, no Flask.

LinkedIn documents the form at https://www.linkedin.com/profile/add with
``startTask=CERTIFICATION_NAME`` and the fields ``name``, ``organizationId`` (the issuer's
LinkedIn company page id, when known; LinkedIn then shows its logo) or ``organizationName``,
``issueYear``/``issueMonth``, ``expirationYear``/``expirationMonth``, ``certUrl`` and
``certId``. Anyone can use it: no API approval is needed. The learner confirms the entry on
their own profile, so nothing is written to LinkedIn without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode

ADD_TO_PROFILE = "https://www.linkedin.com/profile/add"
START_TASK = "CERTIFICATION_NAME"


@dataclass(frozen=True, slots=True)
class Certification:
    """What the Add-to-Profile form is pre-filled with."""

    name: str
    organization_name: str
    cert_url: str  # the public verification page
    cert_id: str
    issued_on: date | datetime
    expires_on: date | datetime | None = None
    organization_id: str | None = None  # the tenant's LinkedIn organization (company) id


def add_to_profile_url(cert: Certification) -> str:
    """The URL that opens LinkedIn's "Add license or certification" form, pre-filled.

    Values are percent-encoded with :func:`urllib.parse.urlencode` (UTF-8, ``+`` for spaces),
    so any name, including ``&``, ``=``, ``#`` or non-Latin text, round-trips through
    :func:`urllib.parse.parse_qs`.
    """
    params: list[tuple[str, str]] = [("startTask", START_TASK), ("name", cert.name)]
    organization_id = (cert.organization_id or "").strip()
    if organization_id:
        params.append(("organizationId", organization_id))
    else:
        params.append(("organizationName", cert.organization_name))
    params += [
        ("issueYear", str(cert.issued_on.year)),
        ("issueMonth", str(cert.issued_on.month)),
    ]
    if cert.expires_on is not None:
        params += [
            ("expirationYear", str(cert.expires_on.year)),
            ("expirationMonth", str(cert.expires_on.month)),
        ]
    params += [("certUrl", cert.cert_url), ("certId", cert.cert_id)]
    return f"{ADD_TO_PROFILE}?{urlencode(params)}"
