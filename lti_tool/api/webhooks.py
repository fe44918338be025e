"""/api/v1/connections/{id}/test: send the connector's test event (e.g. a signed webhook
ping) and report what the target answered. No database transaction is open meanwhile."""

from __future__ import annotations

from typing import Any

from lti_tool.models import Connection
from lti_tool.requestscope import db_read, services
from lti_tool.sync.connections import check_connection
from schemas.api.connections import CheckResultSchema

from .auth import authorize
from .base import ID, resource, tenant_get

bp = resource("connection-tests", "Test-send to a connection's target.", path="connections")


@bp.route(f"/<{ID}:connection_id>/test", methods=["POST"])
@authorize(bp, "connections:admin")
@bp.response(200, CheckResultSchema)
def test_connection(connection_id: int) -> dict[str, Any]:
    """Run the connector's check against the target; 200 whatever the target said."""
    session = db_read()
    item = tenant_get(session, Connection, connection_id)
    session.expunge(item)  # keep its loaded values, then end the read transaction
    session.rollback()
    svc = services()
    result = check_connection(item, svc.secretbox, svc.http)
    return {
        "outcome": str(result.outcome),
        "status_code": result.status_code,
        "detail": result.detail or "ok",
    }
