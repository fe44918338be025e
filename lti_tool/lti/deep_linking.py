"""LTI Deep Linking 2.0: place an achievement in a course, and find it again on launch.

The response is our own JWT (PyJWT, RS256, the tool's current key and its `kid`):
pylti1p3's DeepLinkResource cannot carry `text`, and building the claims here keeps them in
one readable place. Content item: an `ltiResourceLink` whose custom parameter names the
placement, and a `lineItem` (scoreMaximum 100, resourceId = the placement) when the
achievement is earned with a result.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..keys import SigningKey
from ..models import Achievement, AchievementPlacement, Deployment
from .claims import AGS, CUSTOM, DEEP_LINKING_SETTINGS, MESSAGE_TYPE
from .errors import LaunchRefused
from .provisioning import LaunchContext

DL_SETTINGS = DEEP_LINKING_SETTINGS
DL_CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
DL_MSG = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
CUSTOM_PARAM = "microcred_placement"
LINEITEM_TAG = "microcred"
RESPONSE_LIFETIME = 600


@dataclass(frozen=True)
class Landing:
    """Where a launch continues (an endpoint of the web blueprint), not the home page."""

    endpoint: str
    values: Mapping[str, Any] = field(default_factory=dict)


def new_resource_id() -> str:
    return "mc-" + secrets.token_urlsafe(16)


def content_item(
    achievement: Achievement, placement: AchievementPlacement, launch_url: str
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "ltiResourceLink",
        "title": achievement.name[:255],
        "text": achievement.description[:1000],
        "url": launch_url,
        "custom": {CUSTOM_PARAM: placement.resource_id},
    }
    if placement.with_lineitem:
        item["lineItem"] = {
            "scoreMaximum": 100,
            "label": achievement.name[:255],
            "resourceId": placement.resource_id,
            "tag": LINEITEM_TAG,
        }
    return item


def response_jwt(
    *,
    client_id: str,
    platform_issuer: str,
    deployment_id: str,
    settings: Mapping[str, Any],
    items: list[dict[str, Any]],
    key: SigningKey,
    message: str | None = None,
) -> str:
    """The signed LtiDeepLinkingResponse (LTI DL 2.0 §4.2)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "aud": platform_issuer,
        "iat": now,
        "exp": now + RESPONSE_LIFETIME,
        "nonce": secrets.token_urlsafe(24),
        LTI + "deployment_id": deployment_id,
        LTI + "message_type": "LtiDeepLinkingResponse",
        LTI + "version": "1.3.0",
        DL_CONTENT_ITEMS: items,
    }
    if settings.get("data") is not None:
        claims[DL_DATA] = settings["data"]
    if message:
        claims[DL_MSG] = message
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def return_url(settings: Mapping[str, Any]) -> str:
    url = settings.get("deep_link_return_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise LaunchRefused("The deep-linking request has no usable return URL.")
    return url


def landing(session: Session, launch: LaunchContext, claims: Mapping[str, Any]) -> Landing | None:
    """Called in the launch transaction: a deep-linking request goes to the picker; a
    resource link we placed goes to its achievement (and teaches us its line item)."""
    if claims.get(MESSAGE_TYPE) == "LtiDeepLinkingRequest":
        return Landing("deep_linking.picker")
    custom = claims.get(CUSTOM)
    resource_id = custom.get(CUSTOM_PARAM) if isinstance(custom, dict) else None
    if not isinstance(resource_id, str) or not resource_id:
        return None
    platform_id = session.scalars(
        select(Deployment.platform_id).where(Deployment.id == launch.deployment_id)
    ).one()
    placement = session.scalars(
        select(AchievementPlacement).where(
            AchievementPlacement.resource_id == resource_id[:64],
            AchievementPlacement.platform_id == platform_id,
        )
    ).one_or_none()
    if placement is None:
        return Landing("deep_linking.unknown_placement")
    if launch.resource_link_id is not None and placement.resource_link_id is None:
        placement.resource_link_id = launch.resource_link_id
    ags = claims.get(AGS)
    lineitem = ags.get("lineitem") if isinstance(ags, dict) else None
    if placement.with_lineitem and isinstance(lineitem, str) and lineitem.startswith("http"):
        placement.lineitem_url = lineitem[:2048]
    session.flush()
    return Landing("deep_linking.placed", {"resource_id": placement.resource_id})
