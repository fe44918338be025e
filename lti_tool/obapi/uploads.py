"""upsertCredential (OB 3.0 §6.2.3), when the operator enables it: a connected client writes
a credential for the learner. The body is an ``AchievementCredential`` (JSON) or a VC-JWT
(compact JWS, ``text/plain``). It is checked for shape (the OB 3.0 JSON schema for JSON; a
well-formed JWS whose payload has an ``id``/``jti`` for VC-JWT) and stored as received,
unverified, as the spec says. Same credential id again: replaced. Framework-free.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.models import ObApiClient, ObApiUpload, User, utcnow
from lti_tool.models.obapi import secret_hash
from lti_tool.openbadges.schema import validate_achievement_credential

COMPACT_JWS: Final = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$")
MAX_ID: Final = 2048


class UploadRefused(ValueError):
    """The body is not a credential this host can store; the message says why."""


@dataclass(frozen=True)
class Parsed:
    credential_id: str
    credential: dict[str, Any] | None = None
    compact_jws: str | None = None

    @property
    def body(self) -> Any:
        return self.credential if self.credential is not None else self.compact_jws


def _checked_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID or ":" not in value:
        raise UploadRefused("the credential needs an id (a URI)")
    return value


def parse(body: bytes, mimetype: str) -> Parsed:
    if mimetype in ("application/json", "application/ld+json"):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise UploadRefused(f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise UploadRefused("the body must be a credential object")
        result = validate_achievement_credential(data)
        if not result.valid:
            raise UploadRefused("not an OB 3.0 credential: " + "; ".join(result.errors[:5]))
        return Parsed(_checked_id(data.get("id")), credential=data)
    if mimetype == "text/plain":
        token = body.decode("utf-8", "replace").strip()
        if not COMPACT_JWS.match(token):
            raise UploadRefused("not a compact JWS")
        try:
            payload = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise UploadRefused(f"not a VC-JWT: {exc}") from exc
        credential_id = payload.get("id") or payload.get("jti")
        return Parsed(_checked_id(credential_id), compact_jws=token)
    raise UploadRefused("send the credential as application/json or text/plain (VC-JWT)")


def upsert(session: Session, user: User, client: ObApiClient, parsed: Parsed) -> bool:
    """Store ``parsed`` for ``user``: True when created, False when it replaced one."""
    key = secret_hash(parsed.credential_id)
    row = session.scalars(
        select(ObApiUpload)
        .where(ObApiUpload.user_id == user.id, ObApiUpload.credential_key == key)
        .with_for_update()
    ).one_or_none()
    created = row is None
    if row is None:
        row = ObApiUpload(user_id=user.id, credential_key=key, credential_id=parsed.credential_id)
        session.add(row)
    row.client_id = client.id
    row.credential = parsed.credential
    row.compact_jws = parsed.compact_jws
    row.updated_at = utcnow()
    session.flush()
    return created
