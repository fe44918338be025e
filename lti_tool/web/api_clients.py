"""REST API clients of the tenant, managed inside the LMS by its administrators: register a
client (its secret is shown once, on the page that answers the POST, never in a URL), see
the clients, revoke one (its tokens stop working at once).

LTI administrators only; every query is scoped to the session's platform; every POST carries
the session's CSRF token. The work is done by `lti_tool.api.clients`.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from lti_tool.api.clients import (
    ApiClientError,
    add_client,
    find_client,
    list_clients,
    revoke_client,
)
from lti_tool.lti.roles import ADMINISTRATOR
from lti_tool.models.api_clients import SCOPES
from lti_tool.requestscope import db, db_read

from .csrf import check_csrf
from .scope import load_scope, scope, template_globals, u

bp = Blueprint("api_clients_admin", __name__, url_prefix="/app/admin/api-clients")


@bp.before_request
def _guard() -> None:
    current = load_scope()
    if current.role != ADMINISTRATOR:
        abort(403, description="Only the LMS's administrators can manage API clients.")
    check_csrf(current.token)


@bp.context_processor
def _globals() -> dict[str, object]:
    return template_globals()


def _page(
    *, error: str | None = None, created: dict[str, str] | None = None, status: int = 200
) -> tuple[str, int]:
    clients = list_clients(db_read(), platform_id=scope().platform_id)
    html = render_template(
        "admin/api_clients.html",
        clients=clients,
        scopes=SCOPES,
        error=error,
        created=created,
        revoked=request.args.get("done") == "revoked",
    )
    return html, status


@bp.get("")
def index() -> tuple[str, int]:
    return _page()


@bp.post("")
def create() -> tuple[str, int]:
    session = db()
    try:
        client, secret = add_client(
            session,
            platform_id=scope().platform_id,
            name=request.form.get("name", ""),
            scopes=request.form.getlist("scope"),
            created_by=f"user:{scope().user_id}",
        )
    except ApiClientError as exc:
        session.rollback()
        return _page(error=str(exc), status=422)
    session.commit()
    return _page(created={"client_id": client.client_id, "secret": secret, "name": client.name})


@bp.post("/<client_id>/revoke")
def revoke(client_id: str) -> WerkzeugResponse:
    session = db()
    try:
        found = find_client(session, client_id, platform_id=scope().platform_id)
    except ApiClientError:
        abort(404)
    revoke_client(session, found)
    session.commit()
    return redirect(u("api_clients_admin.index", done="revoked"), code=303)
