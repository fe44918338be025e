"""What the OB 3.0 API returns for a learner: credentials (paged) and the profile.

A token belongs to one user, and a user to one platform: every query is keyed on both, so a
learner of one LMS never sees another's credentials. Framework-free.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

from sqlalchemy import String, func, literal, select, union_all
from sqlalchemy.orm import Session

from lti_tool.models import Award, IssuedCredential, ObApiUpload, User

MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 50
#: Namespace of learner profile ids: urn:uuid:<uuid5(namespace, platform issuer + sub)>.
PROFILE_NAMESPACE: Final = uuid.UUID("6f1c3e1e-7a51-4f0a-9d0e-3b1f0c2a9e61")


@dataclass(frozen=True)
class CredentialPage:
    total: int
    limit: int
    offset: int
    credentials: list[dict[str, Any]]
    compact_jws: list[str]

    def body(self) -> dict[str, Any]:
        """GetOpenBadgeCredentialsResponse: credentials with an embedded proof in
        ``credential``, VC-JWT ones (uploaded as such) in ``compactJwsString``."""
        out: dict[str, Any] = {"credential": self.credentials}
        if self.compact_jws:
            out["compactJwsString"] = self.compact_jws
        return out


def credentials(
    session: Session,
    user: User,
    *,
    limit: int,
    offset: int,
    since: datetime | None = None,
) -> CredentialPage:
    """The learner's credentials, newest first: those issued here (signed with
    eddsa-rdfc-2022) and those connected clients wrote (upsertCredential)."""
    issued = (
        select(
            literal("issued", String).label("kind"),
            IssuedCredential.id.label("id"),
            IssuedCredential.issued_at.label("at"),
        )
        .join(Award, Award.id == IssuedCredential.award_id)
        .where(
            Award.user_id == user.id,
            IssuedCredential.platform_id == user.platform_id,
            Award.platform_id == user.platform_id,
        )
    )
    uploaded = select(
        literal("uploaded", String).label("kind"),
        ObApiUpload.id.label("id"),
        ObApiUpload.updated_at.label("at"),
    ).where(ObApiUpload.user_id == user.id)
    if since is not None:
        issued = issued.where(IssuedCredential.issued_at >= since)
        uploaded = uploaded.where(ObApiUpload.updated_at >= since)
    both = union_all(issued, uploaded).subquery()
    total = session.scalar(select(func.count()).select_from(both))
    keys = session.execute(
        select(both.c.kind, both.c.id)
        .order_by(both.c.at.desc(), both.c.kind, both.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    issued_rows = {
        row.id: row
        for row in session.scalars(
            select(IssuedCredential).where(
                IssuedCredential.id.in_([i for k, i in keys if k == "issued"])
            )
        )
    }
    uploaded_rows = {
        row.id: row
        for row in session.scalars(
            select(ObApiUpload).where(ObApiUpload.id.in_([i for k, i in keys if k == "uploaded"]))
        )
    }
    objects: list[dict[str, Any]] = []
    compact: list[str] = []
    for kind, row_id in keys:
        if kind == "issued":
            objects.append(issued_rows[row_id].credential)
            continue
        upload = uploaded_rows[row_id]
        if upload.credential is not None:
            objects.append(upload.credential)
        elif upload.compact_jws is not None:
            compact.append(upload.compact_jws)
    return CredentialPage(int(total or 0), limit, offset, objects, compact)


def profile_id(user: User) -> str:
    """A stable, opaque id of the learner (no email, no LMS id in clear)."""
    return f"urn:uuid:{uuid.uuid5(PROFILE_NAMESPACE, user.platform.issuer + chr(0) + user.sub)}"


def profile(user: User) -> dict[str, Any]:
    """The learner's OB 3.0 ``Profile`` (getProfile)."""
    out: dict[str, Any] = {"id": profile_id(user), "type": ["Profile"]}
    if user.display_name and user.display_name != user.sub:
        out["name"] = user.display_name
    if user.given_name:
        out["givenName"] = user.given_name
    if user.family_name:
        out["familyName"] = user.family_name
    if user.email:
        out["email"] = user.email
    return out


def link_header(url: str, page: CredentialPage, extra: dict[str, str] | None = None) -> str:
    """RFC 8288 ``Link`` header with first / prev / next / last pages (``extra``: other query
    parameters to keep, such as ``since``)."""
    links = []
    last_offset = max(0, ((page.total - 1) // page.limit) * page.limit) if page.total else 0

    def at(offset: int, rel: str) -> str:
        query = urlencode({**(extra or {}), "limit": page.limit, "offset": offset})
        return f'<{url}?{query}>; rel="{rel}"'

    if page.offset + page.limit < page.total:
        links.append(at(page.offset + page.limit, "next"))
    links.append(at(last_offset, "last"))
    links.append(at(0, "first"))
    if page.offset > 0:
        links.append(at(max(0, page.offset - page.limit), "prev"))
    return ", ".join(links)
