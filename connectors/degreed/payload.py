"""JSON:API bodies for the Degreed API v2. Pure functions, no I/O.

Field names follow Degreed's prose documentation (see docs/connectors/degreed.md); the
completion body is marked *unverified* in the connectors reference.
"""

from __future__ import annotations

import uuid
from typing import Any

from connectors.base import Achievement, AwardEvent, iso

#: Namespace of the content external ids Microcred derives. Never change it.
CONTENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:microcred:degreed:content")
IDENTIFIER_TYPES = {"email": "Email", "employee_id": "EmployeeId"}
CONTENT_PATHS = {
    "Course": "courses",
    "Article": "articles",
    "Book": "books",
    "Video": "videos",
    "Event": "events",
    "Assessment": "assessments",
    "Podcast": "podcasts",
}
SUMMARY_LIMIT = 2000


def content_external_id(achievement: Achievement) -> str:
    """Stable external id of an achievement's Degreed content (from its public URL)."""
    return f"microcred-{uuid.uuid5(CONTENT_NAMESPACE, achievement.id)}"


def content_body(achievement: Achievement, content_type: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "external-id": content_external_id(achievement),
        "title": achievement.name,
        "summary": achievement.description[:SUMMARY_LIMIT],
        "url": achievement.criteria_url or achievement.id,
    }
    if achievement.image_url:
        attributes["image-url"] = achievement.image_url
    return {"data": {"type": CONTENT_PATHS[content_type], "attributes": attributes}}


def completion_body(
    event: AwardEvent,
    *,
    user_id: str,
    identifier_type: str,
    content_id: str,
    content_type: str,
    is_verified: bool,
) -> dict[str, Any]:
    return {
        "data": {
            "type": "completions",
            "attributes": {
                "user-id": user_id,
                "user-identifier-type": identifier_type,
                "content-id": content_id,
                "content-id-type": "Id",
                "content-type": content_type,
                "completed-at": iso(event.issued_at),
                "is-verified": is_verified,
            },
        }
    }


def records(body: Any) -> list[dict[str, Any]]:
    """The resource objects of a JSON:API document (``data`` as a list or one object)."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return []
    return [item for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]


def attribute(record: dict[str, Any], name: str) -> Any:
    attributes = record.get("attributes")
    return attributes.get(name) if isinstance(attributes, dict) else None
