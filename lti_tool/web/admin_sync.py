"""Administration of the sync to HR systems (inside the LMS iframe): the tenant's connections,
their deliveries and attempts, and the operations of docs/sync.md (create / edit, pause /
resume, test, replay dead letters).

LTI administrators only; every query is scoped to the session's platform (tenant); every
POST carries the session's CSRF token. Views are thin: forms are validated by marshmallow
schemas (`admin_sync_forms`), the work is done by `lti_tool.sync` services, and each write
commits once. Secret settings are write-only and never rendered.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from flask import Blueprint, abort, redirect, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from connectors.base import Connector, Outcome, Result
from connectors.registry import RegistryError, default_registry
from connectors.settings import SettingsError, format_errors
from lti_tool.lti.roles import ADMINISTRATOR
from lti_tool.models import Connection
from lti_tool.models.sync import DEAD, DELIVERY_STATUSES
from lti_tool.requestscope import db, db_read, services
from lti_tool.secretbox import SecretBoxError
from lti_tool.sync import connections as connection_service
from lti_tool.sync import engine as engine_service
from lti_tool.sync import overview

from . import admin_sync_forms as forms
from .csrf import check_csrf
from .scope import Page, load_scope, page_number, scope, template_globals, u

log = logging.getLogger(__name__)
bp = Blueprint("admin_sync", __name__, url_prefix="/app/admin/sync")
PER_PAGE = 25
NOTICES = {
    "created": "The connection was created.",
    "saved": "The connection was saved.",
    "paused": "The connection was paused: deliveries wait until it is resumed.",
    "resumed": "The connection was resumed: waiting deliveries go out now.",
    "replayed": "Dead deliveries were queued again.",
}


@bp.before_request
def _guard() -> None:
    current = load_scope()
    if current.role != ADMINISTRATOR:
        abort(403, description="Only the LMS's administrators can manage the sync.")
    check_csrf(current.token)


@bp.context_processor
def _globals() -> dict[str, object]:
    values = template_globals()
    values["sync_notice"] = NOTICES.get(request.args.get("done", ""))
    return values


def redirect_to(endpoint: str, **values: Any) -> WerkzeugResponse:
    """303 to a page of the tool, keeping the session token."""
    return redirect(u(endpoint, **values), code=303)


def _connection(session: Any, connection_id: int) -> Connection:
    found = overview.tenant_connection(session, scope().platform_id, connection_id)
    if found is None:
        abort(404)
    return found


def _connector(key: str) -> type[Connector]:
    try:
        return default_registry.get(key)
    except RegistryError:
        abort(404, description="There is no connector of that kind installed.")


# -- the list -----------------------------------------------------------------------------


@bp.get("")
def connections() -> str:
    return render_template(
        "web/admin_sync_connections.html",
        summaries=overview.connection_summaries(db_read(), scope().platform_id),
        connectors=sorted(default_registry.all()),
    )


# -- create and edit ----------------------------------------------------------------------


def _form(
    connector: type[Connector],
    connection: Connection | None,
    values: dict[str, str],
    errors: dict[str, list[str]],
    status: int = 200,
) -> tuple[str, int]:
    html = render_template(
        "web/admin_sync_form.html",
        connector=connector,
        connection=connection,
        fields=forms.setting_fields(connector),
        f=values,
        errors=errors,
        has_secrets=bool(connection is not None and connection.secrets_encrypted),
    )
    return html, status


@bp.route("/connections/new", methods=["GET", "POST"])
def new_connection() -> tuple[str, int] | WerkzeugResponse:
    connector = _connector(request.values.get("connector", ""))
    if request.method == "GET":
        return _form(connector, None, forms.form_values(None, connector), {})
    parsed, errors = forms.parse_form(request.form, connector, editing=False)
    if parsed is None:
        return _form(connector, None, forms.echo_values(request.form, connector), errors, 422)
    session = db()
    try:
        created = connection_service.add_connection(
            session,
            services().secretbox,
            platform_id=scope().platform_id,
            connector=connector.key,
            name=parsed.common["name"],
            settings=parsed.settings,
            secrets=parsed.secrets,
            identity_mapping=parsed.common["identity_mapping"],
            rate_limit_per_minute=parsed.common["rate_limit_per_minute"],
        )
    except SettingsError as exc:
        session.rollback()
        values = forms.echo_values(request.form, connector)
        return _form(connector, None, values, forms.setting_errors(exc.errors), 422)
    except connection_service.ConnectionConfigError as exc:
        session.rollback()
        values = forms.echo_values(request.form, connector)
        return _form(connector, None, values, {"_form": [str(exc)]}, 422)
    session.commit()
    return redirect_to("admin_sync.connection", connection_id=created.id, done="created")


@bp.route("/connections/<int:connection_id>/edit", methods=["GET", "POST"])
def edit_connection(connection_id: int) -> tuple[str, int] | WerkzeugResponse:
    session = db()
    found = _connection(session, connection_id)
    connector = _connector(found.connector)
    if request.method == "GET":
        return _form(connector, found, forms.form_values(found, connector), {})
    parsed, errors = forms.parse_form(request.form, connector, editing=True)
    if parsed is None:
        return _form(connector, found, forms.echo_values(request.form, connector), errors, 422)
    try:
        connection_service.update_connection(
            session,
            services().secretbox,
            found,
            name=parsed.common["name"],
            settings=parsed.settings,
            new_secrets=parsed.secrets,
            identity_mapping=parsed.common["identity_mapping"],
            rate_limit_per_minute=parsed.common["rate_limit_per_minute"],
            enabled=parsed.common["enabled"],
        )
    except (SettingsError, connection_service.ConnectionConfigError, SecretBoxError) as exc:
        session.rollback()
        found = _connection(session, connection_id)
        values = forms.echo_values(request.form, connector)
        if isinstance(exc, SettingsError):
            errors = forms.setting_errors(exc.errors)
        else:
            errors = {"_form": [str(exc)]}
        return _form(connector, found, values, errors, 422)
    session.commit()
    return redirect_to("admin_sync.connection", connection_id=connection_id, done="saved")


# -- one connection: state, deliveries, operations ----------------------------------------


def _connection_page(
    connection_id: int, *, test: Result | None = None, status: int = 200
) -> tuple[str, int]:
    read = db_read()
    found = _connection(read, connection_id)
    state = request.args.get("state") or None
    if state is not None and state not in DELIVERY_STATUSES:
        abort(404)
    number = page_number()
    rows, total = overview.deliveries(read, found.id, state, page=number, per_page=PER_PAGE)
    html = render_template(
        "web/admin_sync_connection.html",
        connection=found,
        counts=overview.counts_by_status(read, [found.id])[found.id],
        last_error=overview.last_error(read, found.id),
        state=state,
        statuses=DELIVERY_STATUSES,
        page=Page(rows, number, PER_PAGE, total),
        test=test,
        dead=DEAD,
    )
    return html, status


@bp.get("/connections/<int:connection_id>")
def connection(connection_id: int) -> tuple[str, int]:
    return _connection_page(connection_id)


@bp.post("/connections/<int:connection_id>/pause")
def pause_connection(connection_id: int) -> WerkzeugResponse:
    session = db()
    reason = (request.form.get("reason") or "").strip()[:500] or "paused by an administrator"
    connection_service.pause(_connection(session, connection_id), reason)
    session.commit()
    return redirect_to("admin_sync.connection", connection_id=connection_id, done="paused")


@bp.post("/connections/<int:connection_id>/resume")
def resume_connection(connection_id: int) -> WerkzeugResponse:
    session = db()
    engine_service.resume(session, _connection(session, connection_id))
    session.commit()
    return redirect_to("admin_sync.connection", connection_id=connection_id, done="resumed")


@bp.post("/connections/<int:connection_id>/test")
def test_connection(connection_id: int) -> tuple[str, int]:
    read = db_read()
    found = _connection(read, connection_id)
    read.expunge(found)
    # No transaction stays open across the call to the target.
    read.rollback()
    try:
        with requests.Session() as http:
            result = connection_service.check_connection(found, services().secretbox, http)
    except SettingsError as exc:
        result = Result(Outcome.REJECTED, detail=f"settings: {format_errors(exc.errors)}")
    except (RegistryError, SecretBoxError) as exc:
        result = Result(Outcome.REJECTED, detail=str(exc))
    log.info("connection %s tested: %s", connection_id, result.outcome)
    return _connection_page(connection_id, test=result)


@bp.post("/connections/<int:connection_id>/replay")
def replay_dead(connection_id: int) -> WerkzeugResponse:
    session = db()
    found = _connection(session, connection_id)
    count = engine_service.replay(session, connection_id=found.id)
    session.commit()
    return redirect_to(
        "admin_sync.connection", connection_id=connection_id, done="replayed", count=count
    )


# -- one delivery -------------------------------------------------------------------------


@bp.get("/deliveries/<int:delivery_id>")
def delivery(delivery_id: int) -> str:
    read = db_read()
    found = overview.tenant_delivery(read, scope().platform_id, delivery_id)
    if found is None:
        abort(404)
    return render_template(
        "web/admin_sync_delivery.html",
        delivery=found,
        connection=found.connection,
        attempts=overview.attempts(read, found.id),
        dead=DEAD,
    )


@bp.post("/deliveries/<int:delivery_id>/replay")
def replay_delivery(delivery_id: int) -> WerkzeugResponse:
    session = db()
    found = overview.tenant_delivery(session, scope().platform_id, delivery_id)
    if found is None:
        abort(404)
    count = engine_service.replay(session, delivery_ids=[found.id])
    session.commit()
    return redirect_to("admin_sync.delivery", delivery_id=delivery_id, done="replayed", count=count)
