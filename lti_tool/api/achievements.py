"""/api/v1/achievements: list, create, read, change (If-Match), archive."""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lti_tool.credentials import achievements as service
from lti_tool.models import Achievement
from lti_tool.requestscope import db, db_read
from schemas.api.achievements import (
    AchievementChangeSchema,
    AchievementInputSchema,
    AchievementListQuerySchema,
    AchievementOutSchema,
)
from schemas.api.common import OptionalReasonSchema

from .auth import authorize, principal
from .base import ID, headers_doc, resource, tenant_get, tenant_platform
from .etags import etag_of, not_modified, require_match
from .idempotency import idempotent
from .pagination import keyset_page

bp = resource("achievements", "Micro-credential definitions (Open Badges 3.0 Achievement).")


def _etag(item: Achievement) -> str:
    return etag_of("achievement", item.id, item.updated_at.isoformat())


def _with_etag(item: Achievement, status: int = 200) -> tuple[Achievement, int, dict[str, str]]:
    return item, status, {"ETag": f'"{_etag(item)}"'}


@bp.route("", methods=["GET"])
@authorize(bp, "achievements:read")
@bp.arguments(AchievementListQuerySchema, location="query")
@bp.response(200, AchievementOutSchema(many=True))
def list_achievements(query: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    """Achievements of the tenant, oldest change first (cursor pages, `Link: rel=next`)."""
    statement = (
        select(Achievement)
        .where(Achievement.platform_id == principal().platform_id)
        .options(selectinload(Achievement.alignments))
    )
    if not query["include_archived"]:
        statement = statement.where(Achievement.archived_at.is_(None))
    page = keyset_page(
        db_read(),
        statement,
        updated_at=Achievement.updated_at,
        id_column=Achievement.id,
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    return page.items, 200, page.link_header()


@bp.route("", methods=["POST"])
@authorize(bp, "achievements:write")
@headers_doc(bp, "Idempotency-Key")
@idempotent
@bp.arguments(AchievementInputSchema)
@bp.response(201, AchievementOutSchema)
def create_achievement(data: dict[str, Any]) -> tuple[Achievement, int, dict[str, str]]:
    """Define an achievement. Replays with the same `Idempotency-Key` return the first answer."""
    session = db()
    item = service.create_achievement(
        session, tenant_platform(session), data, actor=principal().actor
    )
    session.commit()
    return _with_etag(item, 201)


@bp.route(f"/<{ID}:achievement_id>", methods=["GET"])
@authorize(bp, "achievements:read")
@headers_doc(bp, "If-None-Match")
@bp.response(200, AchievementOutSchema)
@bp.alt_response(304, description="Not modified (If-None-Match)")
def get_achievement(achievement_id: int) -> Any:
    item = tenant_get(db_read(), Achievement, achievement_id)
    cached: Response | None = not_modified(_etag(item))
    return cached if cached is not None else _with_etag(item)


@bp.route(f"/<{ID}:achievement_id>", methods=["PATCH"])
@authorize(bp, "achievements:write")
@headers_doc(bp, "If-Match")
@bp.arguments(AchievementChangeSchema)
@bp.response(200, AchievementOutSchema)
def update_achievement(
    changes: dict[str, Any], achievement_id: int
) -> tuple[Achievement, int, dict[str, str]]:
    """Change some fields. Send `If-Match` with the ETag you read: 412 if it changed since."""
    session = db()
    item = tenant_get(session, Achievement, achievement_id)
    require_match(_etag(item))
    service.update_achievement(session, item, changes, actor=principal().actor)
    session.commit()
    return _with_etag(item)


@bp.route(f"/<{ID}:achievement_id>/archive", methods=["POST"])
@authorize(bp, "achievements:write")
@headers_doc(bp, "Idempotency-Key", "If-Match")
@idempotent
@bp.arguments(OptionalReasonSchema)
@bp.response(200, AchievementOutSchema)
def archive_achievement(
    data: dict[str, Any], achievement_id: int
) -> tuple[Achievement, int, dict[str, str]]:
    """No new awards of it; awards made keep their status. Archiving twice is a 409."""
    session = db()
    item = tenant_get(session, Achievement, achievement_id)
    require_match(_etag(item))
    service.archive_achievement(session, item, actor=principal().actor, reason=data["reason"])
    session.commit()
    return _with_etag(item)
