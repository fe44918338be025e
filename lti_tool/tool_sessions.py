"""Tool sessions: an opaque token the launch hands to the browser, stored hashed.

Pages carry the token in the URL (`?s=`) or the `X-Microcred-Session` header instead of a
cookie, so they work inside an LMS iframe in browsers that block third-party cookies.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session, joinedload

from .lti.provisioning import LaunchContext
from .models import Deployment, ToolSession, utcnow

_INSERT = insert(ToolSession.__table__)  # type: ignore[arg-type]  # Core, not ORM bulk


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(
    session: Session, launch: LaunchContext, *, message_type: str, launch_id: str, ttl: int
) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    # A Core INSERT: nothing reads the row back in the launch request.
    session.execute(
        _INSERT,
        {
            "token_hash": _hash(token),
            "user_id": launch.user_id,
            "deployment_id": launch.deployment_id,
            "context_id": launch.context_id,
            "resource_link_id": launch.resource_link_id,
            "role": launch.role,
            "message_type": message_type,
            "launch_id": launch_id,
            "expires_at": now + timedelta(seconds=ttl),
            "created_at": now,
        },
    )
    return token


def find(session: Session, token: str) -> ToolSession | None:
    if not token or len(token) > 128:
        return None
    row = session.get(
        ToolSession,
        _hash(token),
        options=[
            joinedload(ToolSession.user),
            joinedload(ToolSession.context),
            # The pages show the platform's name: load it in the same query, not lazily.
            joinedload(ToolSession.deployment).joinedload(Deployment.platform),
            joinedload(ToolSession.resource_link),
        ],
    )
    if row is None or row.expires_at <= utcnow():
        return None
    return row
