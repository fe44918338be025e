"""/api/v1/deliveries: deliveries of award events to the tenant's connections, by state;
replay of dead ones (their attempt log is kept)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lti_tool.models import Connection, Delivery
from lti_tool.models.sync import DEAD
from lti_tool.requestscope import db, db_read
from lti_tool.sync import engine
from schemas.api.connections import (
    DeliveryListQuerySchema,
    DeliveryOutSchema,
    ReplayResultSchema,
    ReplaySchema,
)

from .auth import authorize, principal
from .base import headers_doc, resource, tenant_get
from .errors import ApiProblem
from .idempotency import idempotent
from .pagination import keyset_page

bp = resource("deliveries", "Award events on their way to connections.")


def _tenant_deliveries() -> Any:
    return (
        select(Delivery)
        .join(Connection, Connection.id == Delivery.connection_id)
        .where(Connection.platform_id == principal().platform_id)
    )


@bp.route("", methods=["GET"])
@authorize(bp, "deliveries:read")
@bp.arguments(DeliveryListQuerySchema, location="query")
@bp.response(200, DeliveryOutSchema(many=True))
def list_deliveries(query: dict[str, Any]) -> Any:
    """Deliveries, oldest change first; filter by state (e.g. `dead`), connection, award."""
    statement = _tenant_deliveries()
    if "state" in query:
        statement = statement.where(Delivery.status == query["state"])
    if "connection_id" in query:
        statement = statement.where(Delivery.connection_id == query["connection_id"])
    if "award_id" in query:
        statement = statement.where(Delivery.award_id == query["award_id"])
    page = keyset_page(
        db_read(),
        statement,
        updated_at=Delivery.updated_at,
        id_column=Delivery.id,
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    return page.items, 200, page.link_header()


@bp.route("/replay", methods=["POST"])
@authorize(bp, "deliveries:write")
@headers_doc(bp, "Idempotency-Key")
@idempotent
@bp.arguments(ReplaySchema)
@bp.response(200, ReplayResultSchema)
def replay_deliveries(data: dict[str, Any]) -> dict[str, int]:
    """Queue dead deliveries again: these ids, or every dead one of a connection."""
    if (data["delivery_ids"] is None) == (data["connection_id"] is None):
        raise ApiProblem(
            422,
            "Give delivery_ids or connection_id.",
            kind="invalid-input",
            errors={"delivery_ids": ["give delivery_ids or connection_id"]},
        )
    session = db()
    statement = _tenant_deliveries().where(Delivery.status == DEAD)
    if data["connection_id"] is not None:
        tenant_get(session, Connection, data["connection_id"])  # 404 if not the tenant's
        statement = statement.where(Delivery.connection_id == data["connection_id"])
    else:
        statement = statement.where(Delivery.id.in_(data["delivery_ids"]))
    ids = list(session.scalars(statement.with_only_columns(Delivery.id)))
    count = engine.replay(session, delivery_ids=ids) if ids else 0
    session.commit()
    return {"replayed": count}
