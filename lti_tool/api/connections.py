"""/api/v1/connections: a tenant's connections to HR systems, LRSs and webhooks.

Settings are validated by the connector's own schema; secrets are encrypted at rest and
write-only here. Pausing holds deliveries back; resuming makes waiting ones due at once.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import select

from lti_tool.models import Connection, utcnow
from lti_tool.requestscope import db, db_read, services
from lti_tool.sync import connections as service
from lti_tool.sync import engine
from schemas.api.common import PageQuerySchema
from schemas.api.connections import (
    ConnectionChangeSchema,
    ConnectionCreateSchema,
    ConnectionOutSchema,
)

from .auth import authorize, principal
from .base import ID, headers_doc, resource, tenant_get
from .etags import etag_of, not_modified, require_match
from .idempotency import idempotent
from .pagination import keyset_page

# Fields of a PATCH that change the configuration (validated by the connector as a whole).
CONFIGURATION = frozenset(
    {"name", "settings", "secrets", "identity_mapping", "rate_limit_per_minute"}
)

bp = resource("connections", "Configured uses of a connector (webhook, xAPI, HR systems).")


def _etag(item: Connection) -> str:
    return etag_of("connection", item.id, item.updated_at.isoformat())


def _out(item: Connection) -> dict[str, Any]:
    return {
        "id": item.id,
        "connector": item.connector,
        "name": item.name,
        "settings": item.settings,
        "has_secrets": item.secrets_encrypted is not None,
        "identity_mapping": item.identity_mapping,
        "rate_limit_per_minute": item.rate_limit_per_minute,
        "enabled": item.enabled,
        "paused": item.paused,
        "state": item.state,
        "pause_reason": item.pause_reason,
        "disabled_reason": item.disabled_reason,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def _with_etag(item: Connection, status: int = 200) -> Any:
    return _out(item), status, {"ETag": f'"{_etag(item)}"'}


@bp.route("", methods=["GET"])
@authorize(bp, "connections:admin")
@bp.arguments(PageQuerySchema, location="query")
@bp.response(200, ConnectionOutSchema(many=True))
def list_connections(query: dict[str, Any]) -> Any:
    page = keyset_page(
        db_read(),
        select(Connection).where(Connection.platform_id == principal().platform_id),
        updated_at=Connection.updated_at,
        id_column=Connection.id,
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    return [_out(c) for c in page.items], 200, page.link_header()


@bp.route("", methods=["POST"])
@authorize(bp, "connections:admin")
@headers_doc(bp, "Idempotency-Key")
@idempotent
@bp.arguments(ConnectionCreateSchema)
@bp.response(201, ConnectionOutSchema)
def create_connection(data: dict[str, Any]) -> Any:
    """Add a connection; the connector checks its settings (422 naming what is wrong)."""
    session = db()
    item = service.add_connection(
        session,
        services().secretbox,
        platform_id=principal().platform_id,
        connector=data["connector"],
        name=data["name"],
        settings=data["settings"],
        secrets=data["secrets"],
        identity_mapping=data["identity_mapping"],
        rate_limit_per_minute=data["rate_limit_per_minute"],
    )
    session.commit()
    return _with_etag(item, 201)


@bp.route(f"/<{ID}:connection_id>", methods=["GET"])
@authorize(bp, "connections:admin")
@headers_doc(bp, "If-None-Match")
@bp.response(200, ConnectionOutSchema)
@bp.alt_response(304, description="Not modified (If-None-Match)")
def get_connection(connection_id: int) -> Any:
    item = tenant_get(db_read(), Connection, connection_id)
    cached: Response | None = not_modified(_etag(item))
    return cached if cached is not None else _with_etag(item)


@bp.route(f"/<{ID}:connection_id>", methods=["PATCH"])
@authorize(bp, "connections:admin")
@headers_doc(bp, "If-Match")
@bp.arguments(ConnectionChangeSchema)
@bp.response(200, ConnectionOutSchema)
def update_connection(changes: dict[str, Any], connection_id: int) -> Any:
    """Change its settings, secrets (write-only; only those given are replaced), name,
    identity mapping or rate limit; switch it on or off; pause (with a reason) or resume.
    The connector validates the result (422 naming what is wrong). `If-Match` guards it."""
    session = db()
    item = tenant_get(session, Connection, connection_id)
    require_match(_etag(item))
    if CONFIGURATION.intersection(changes):
        service.update_connection(
            session,
            services().secretbox,
            item,
            name=changes.get("name", item.name),
            settings=changes.get("settings", item.settings),
            new_secrets=changes.get("secrets", {}),
            identity_mapping=changes.get("identity_mapping", item.identity_mapping),
            rate_limit_per_minute=changes.get("rate_limit_per_minute", item.rate_limit_per_minute),
            enabled=changes.get("enabled", item.enabled),
        )
    elif "enabled" in changes:
        item.enabled = changes["enabled"]
    if changes.get("paused") is True:
        service.pause(item, changes.get("pause_reason") or "paused through the API")
    elif changes.get("paused") is False:
        engine.resume(session, item)
    item.updated_at = utcnow()
    session.commit()
    return _with_etag(item)


@bp.route(f"/<{ID}:connection_id>", methods=["DELETE"])
@authorize(bp, "connections:admin")
@headers_doc(bp, "If-Match")
@bp.response(204)
def delete_connection(connection_id: int) -> Any:
    """Remove the connection with its deliveries and identity mappings."""
    session = db()
    item = tenant_get(session, Connection, connection_id)
    require_match(_etag(item))
    session.delete(item)
    session.commit()
    return None
