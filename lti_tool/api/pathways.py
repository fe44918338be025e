"""/api/v1/pathways: list, define, read, change (If-Match), archive, a learner's progress."""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.credentials import pathways as service
from lti_tool.credentials.pathways import PathwayProgress
from lti_tool.models import Achievement, Pathway, User
from lti_tool.requestscope import db, db_read
from schemas.api.common import OptionalReasonSchema
from schemas.api.learners import PathwayProgressSchema
from schemas.api.pathways import (
    PathwayChangeSchema,
    PathwayInputSchema,
    PathwayListQuerySchema,
    PathwayOutSchema,
    ProgressQuerySchema,
)

from .auth import authorize, principal
from .base import ID, headers_doc, resource, tenant_get, tenant_platform
from .errors import ApiProblem
from .etags import etag_of, not_modified, require_match
from .idempotency import idempotent
from .pagination import keyset_page

bp = resource("pathways", "Stacks of achievements that earn their own credential.")


def _etag(item: Pathway) -> str:
    return etag_of("pathway", item.id, item.updated_at.isoformat())


def _out(session: Session, item: Pathway) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "context_id": item.context_id,
        "achievement_id": item.achievement_id,
        "requirements": service.load_tree(session, item).to_dict(),
        "archived_at": item.archived_at,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def _with_etag(session: Session, item: Pathway, status: int = 200) -> Any:
    return _out(session, item), status, {"ETag": f'"{_etag(item)}"'}


@bp.route("", methods=["GET"])
@authorize(bp, "pathways:read")
@bp.arguments(PathwayListQuerySchema, location="query")
@bp.response(200, PathwayOutSchema(many=True))
def list_pathways(query: dict[str, Any]) -> Any:
    """Pathways of the tenant, oldest change first (cursor pages)."""
    session = db_read()
    statement = select(Pathway).where(Pathway.platform_id == principal().platform_id)
    if not query["include_archived"]:
        statement = statement.where(Pathway.archived_at.is_(None))
    page = keyset_page(
        session,
        statement,
        updated_at=Pathway.updated_at,
        id_column=Pathway.id,
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    return [_out(session, p) for p in page.items], 200, page.link_header()


@bp.route("", methods=["POST"])
@authorize(bp, "pathways:write")
@headers_doc(bp, "Idempotency-Key")
@idempotent
@bp.arguments(PathwayInputSchema)
@bp.response(201, PathwayOutSchema)
def create_pathway(data: dict[str, Any]) -> Any:
    """Define a pathway; completing it awards its credential automatically."""
    session = db()
    credential = None
    credential_id = data.pop("credential_achievement_id", None)
    if credential_id is not None:
        credential = session.scalars(
            select(Achievement).where(
                Achievement.id == credential_id,
                Achievement.platform_id == principal().platform_id,
            )
        ).one_or_none()
        if credential is None:
            raise ApiProblem(
                422,
                "No such achievement.",
                kind="invalid-input",
                errors={"credential_achievement_id": ["no such achievement"]},
            )
    item = service.define_pathway(
        session, tenant_platform(session), data, actor=principal().actor, credential=credential
    )
    session.commit()
    return _with_etag(session, item, 201)


@bp.route(f"/<{ID}:pathway_id>", methods=["GET"])
@authorize(bp, "pathways:read")
@headers_doc(bp, "If-None-Match")
@bp.response(200, PathwayOutSchema)
@bp.alt_response(304, description="Not modified (If-None-Match)")
def get_pathway(pathway_id: int) -> Any:
    session = db_read()
    item = tenant_get(session, Pathway, pathway_id)
    cached: Response | None = not_modified(_etag(item))
    return cached if cached is not None else _with_etag(session, item)


@bp.route(f"/<{ID}:pathway_id>", methods=["PATCH"])
@authorize(bp, "pathways:write")
@headers_doc(bp, "If-Match")
@bp.arguments(PathwayChangeSchema)
@bp.response(200, PathwayOutSchema)
def update_pathway(changes: dict[str, Any], pathway_id: int) -> Any:
    """Change name, description or requirements. Send `If-Match`: 412 if it changed since."""
    session = db()
    item = tenant_get(session, Pathway, pathway_id)
    require_match(_etag(item))
    if "credential_achievement_id" in changes:
        raise ApiProblem(
            422,
            "A pathway's credential cannot change.",
            kind="invalid-input",
            errors={"credential_achievement_id": ["cannot change"]},
        )
    service.update_pathway(session, item, changes, actor=principal().actor)
    session.commit()
    return _with_etag(session, item)


@bp.route(f"/<{ID}:pathway_id>/archive", methods=["POST"])
@authorize(bp, "pathways:write")
@headers_doc(bp, "Idempotency-Key", "If-Match")
@idempotent
@bp.arguments(OptionalReasonSchema)
@bp.response(200, PathwayOutSchema)
def archive_pathway(data: dict[str, Any], pathway_id: int) -> Any:
    """Stop auto-awarding it; progress stays readable, earned credentials are kept."""
    session = db()
    item = tenant_get(session, Pathway, pathway_id)
    require_match(_etag(item))
    service.archive_pathway(session, item, actor=principal().actor, reason=data["reason"])
    session.commit()
    return _with_etag(session, item)


@bp.route(f"/<{ID}:pathway_id>/progress", methods=["GET"])
@authorize(bp, "pathways:read")
@bp.arguments(ProgressQuerySchema, location="query")
@bp.response(200, PathwayProgressSchema)
def pathway_progress(query: dict[str, Any], pathway_id: int) -> PathwayProgress:
    """One learner's progress on this pathway."""
    session = db_read()
    item = tenant_get(session, Pathway, pathway_id)
    learner = tenant_get(session, User, query["learner_id"])
    return service.evaluate(session, item, learner)
