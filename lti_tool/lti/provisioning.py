"""After a valid launch: upsert the user, course, resource link and roles from the claims."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..models import Context, Deployment, Enrollment, ResourceLink, User, utcnow
from ..upsert import upsert
from .claims import AGS, CONTEXT, CUSTOM, LIS, NRPS, RESOURCE_LINK, ROLES
from .roles import primary_role

# Custom parameters that carry HR identifiers (the LMS admin maps them, e.g.
# employee_id=$Canvas.user.sisIntegrationId).
HR_ID_CUSTOM_KEYS = ("employee_id", "hr_id", "sis_id", "person_id")


class _Throttle:
    """`last_launch_at` is for admins ("when was this deployment last used"): rewriting
    the same row on every launch only adds write contention, so each process records it
    at most once per `interval` seconds per deployment."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[int, float] = {}

    def due(self, key: int) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            return False
        self._last[key] = now
        return True


_launch_recorded = _Throttle()


@dataclass(frozen=True)
class LaunchContext:
    user_id: int
    deployment_id: int
    context_id: int | None
    resource_link_id: int | None
    role: str


def _text(value: Any, limit: int = 255) -> str:
    return value[:limit] if isinstance(value, str) else ""


def display_name(claims: Mapping[str, Any]) -> str:
    """The same choice as `User.display_name`, from the launch claims."""
    full = " ".join(_text(claims.get(k)) for k in ("given_name", "family_name") if claims.get(k))
    return (
        _text(claims.get("name")) or full or _text(claims.get("email"), 320) or _text(claims["sub"])
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def provision(session: Session, deployment: Deployment, claims: Mapping[str, Any]) -> LaunchContext:
    now = utcnow()
    platform_id = deployment.platform_id
    custom: dict[str, Any] = _object(claims.get(CUSTOM))
    lis: dict[str, Any] = _object(claims.get(LIS))
    hr_ids = {k: str(custom[k])[:255] for k in HR_ID_CUSTOM_KEYS if custom.get(k)}
    user_values: dict[str, Any] = {
        "platform_id": platform_id,
        "sub": _text(claims.get("sub")),
        "name": _text(claims.get("name")),
        "given_name": _text(claims.get("given_name")),
        "family_name": _text(claims.get("family_name")),
        "email": _text(claims.get("email"), 320) or None,
        "person_sourcedid": _text(lis.get("person_sourcedid")) or None,
        "hr_ids": hr_ids,
        "created_at": now,
        "updated_at": now,
    }
    user_id = upsert(
        session,
        User,
        user_values,
        conflict=("platform_id", "sub"),
        update=(
            "name",
            "given_name",
            "family_name",
            "email",
            "person_sourcedid",
            "hr_ids",
            "updated_at",
        ),
    )
    # An UPDATE statement, not an attribute change: `deployment` may come from the request's
    # read-only session, which is never flushed.
    if _launch_recorded.due(deployment.id):
        session.execute(
            update(Deployment.__table__)  # type: ignore[arg-type]
            .where(Deployment.__table__.c.id == deployment.id)
            .values(last_launch_at=now)
        )

    context_id: int | None = None
    context_claim = claims.get(CONTEXT)
    if isinstance(context_claim, dict) and context_claim.get("id"):
        services = {
            name: claims[claim]
            for name, claim in (("nrps", NRPS), ("ags", AGS))
            if isinstance(claims.get(claim), dict)
        }
        context_id = upsert(
            session,
            Context,
            {
                "platform_id": platform_id,
                "deployment_id": deployment.id,
                "context_id": _text(context_claim.get("id")),
                "title": _text(context_claim.get("title"), 1024),
                "label": _text(context_claim.get("label")),
                "services": services,
                "created_at": now,
                "updated_at": now,
            },
            conflict=("deployment_id", "context_id"),
            update=("title", "label", "services", "updated_at"),
        )

    roles = [r for r in claims.get(ROLES) or [] if isinstance(r, str)][:50]
    role = primary_role(roles)
    if context_id is not None:
        upsert(
            session,
            Enrollment,
            {
                "context_id": context_id,
                "user_id": user_id,
                "roles": roles,
                "role": role,
                "updated_at": now,
            },
            conflict=("context_id", "user_id"),
            update=("roles", "role", "updated_at"),
        )

    resource_link_id: int | None = None
    link = claims.get(RESOURCE_LINK)
    if isinstance(link, dict) and link.get("id"):
        resource_link_id = upsert(
            session,
            ResourceLink,
            {
                "deployment_id": deployment.id,
                "context_id": context_id,
                "resource_link_id": _text(link.get("id")),
                "title": _text(link.get("title"), 1024),
                "custom": custom,
                "created_at": now,
            },
            conflict=("deployment_id", "resource_link_id"),
            update=("context_id", "title", "custom"),
        )
    return LaunchContext(user_id, deployment.id, context_id, resource_link_id, role)
