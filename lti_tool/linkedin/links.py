"""Add-to-Profile links for issued credentials (the tenant's organization id from the DB)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..models import IssuedCredential
from .accounts import organization_id
from .add_to_profile import Certification, add_to_profile_url


def certification(
    issued: IssuedCredential, *, name: str, issuer_name: str, page_url: str, org_id: str | None
) -> Certification:
    return Certification(
        name=name,
        organization_name=issuer_name,
        cert_url=page_url,
        cert_id=issued.public_id,
        issued_on=issued.issued_at,
        expires_on=issued.award.expires_at,
        organization_id=org_id,
    )


def add_to_profile_link(
    session: Session, issued: IssuedCredential, *, name: str, issuer_name: str, page_url: str
) -> str:
    """The Add-to-Profile URL of ``issued``, with its tenant's organization id when set."""
    org_id = organization_id(session, issued.platform_id)
    return add_to_profile_url(
        certification(issued, name=name, issuer_name=issuer_name, page_url=page_url, org_id=org_id)
    )
