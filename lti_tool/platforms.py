"""Add and remove LMS registrations (used by the CLI and dynamic registration)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from marshmallow import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from schemas.platforms import PlatformSchema

from .models import Deployment, Platform


class PlatformError(Exception):
    """A registration request is wrong; the message says what to fix."""


def _describe(errors: dict[str, object]) -> str:
    parts = []
    for field, problems in sorted(errors.items()):
        text = "; ".join(str(p) for p in problems) if isinstance(problems, list) else str(problems)
        parts.append(f"--{field.replace('_', '-')}: {text}")
    return ", ".join(parts)


def add_platform(
    session: Session,
    *,
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    deployment_ids: Iterable[str],
    name: str = "",
    auth_audience: str | None = None,
) -> tuple[Platform, bool]:
    """Create the registration, or update its URLs and add deployments. (platform, created)."""
    try:
        data = PlatformSchema().load(
            {
                "issuer": issuer,
                "client_id": client_id,
                "auth_login_url": auth_login_url,
                "auth_token_url": auth_token_url,
                "key_set_url": key_set_url,
                "deployment_ids": list(deployment_ids),
                "name": name,
                "auth_audience": auth_audience,
            }
        )
    except ValidationError as exc:
        raise PlatformError(_describe(exc.normalized_messages())) from exc
    platform = session.scalars(
        select(Platform).where(Platform.issuer == data["issuer"], Platform.client_id == client_id)
    ).first()
    created = platform is None
    if platform is None:
        platform = Platform(issuer=data["issuer"], client_id=data["client_id"])
        session.add(platform)
    platform.name = data["name"] or platform.name or urlsplit(data["issuer"]).netloc or issuer
    platform.auth_login_url = data["auth_login_url"]
    platform.auth_token_url = data["auth_token_url"]
    platform.key_set_url = data["key_set_url"]
    platform.auth_audience = data["auth_audience"]
    session.flush()
    existing = {d.deployment_id: d for d in platform.deployments}
    for deployment_id in dict.fromkeys(data["deployment_ids"]):
        if deployment_id in existing:
            existing[deployment_id].active = True
        else:
            platform.deployments.append(Deployment(deployment_id=deployment_id))
    session.flush()
    return platform, created


def remove_platform(
    session: Session, *, issuer: str, client_id: str, deployment_ids: Iterable[str] = ()
) -> str:
    platform = session.scalars(
        select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
    ).first()
    if platform is None:
        raise PlatformError(
            f"no platform registered with issuer {issuer} and client id {client_id}"
        )
    wanted = list(deployment_ids)
    if not wanted:
        session.delete(platform)
        session.flush()
        return f"Removed platform {issuer} (client id {client_id})."
    known = {d.deployment_id for d in platform.deployments}
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise PlatformError(f"unknown deployment id(s) for this platform: {', '.join(unknown)}")
    session.execute(
        delete(Deployment).where(
            Deployment.platform_id == platform.id, Deployment.deployment_id.in_(wanted)
        )
    )
    return f"Removed {len(wanted)} deployment(s) from {issuer}."
