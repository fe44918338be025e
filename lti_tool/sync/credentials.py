"""The signed OB 3.0 credential that goes with a delivery: the one stored at issuance.

``lti_tool.credentials.issuance`` signs every award's credential once, in the award's
transaction, and keeps it in ``issued_credentials``. Deliveries send that stored document
(never a re-signed copy: every target receives the same bytes the verification page serves)
and its public verification URL, ``<public url>/credentials/<public id>``. The engine loads
them for a whole batch of deliveries with one query (:class:`StoredCredentials`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.models import IssuedCredential


@dataclass(frozen=True)
class StoredCredential:
    document: Mapping[str, Any]
    verification_url: str


#: Loads the stored credentials of some awards: {award id: StoredCredential}; awards without
#: one (made before issuance was set up) are simply absent.
CredentialSource = Callable[[Session, Collection[int]], dict[int, StoredCredential]]


class StoredCredentials:
    """The :data:`CredentialSource` reading ``issued_credentials``."""

    def __init__(self, url: Callable[[str], str]) -> None:
        self._url = url  # Settings.url: a path -> the public URL

    def __call__(self, session: Session, award_ids: Collection[int]) -> dict[int, StoredCredential]:
        if not award_ids:
            return {}
        rows = session.execute(
            select(
                IssuedCredential.award_id,
                IssuedCredential.public_id,
                IssuedCredential.credential,
            ).where(IssuedCredential.award_id.in_(sorted(set(award_ids))))
        )
        return {
            award_id: StoredCredential(document, self._url(f"/credentials/{public_id}"))
            for award_id, public_id, document in rows
        }
