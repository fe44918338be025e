"""LTI endpoints: /lti/login, /lti/launch, /lti/jwks. Thin: parse, call, commit, respond."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from pylti1p3.contrib.flask import FlaskRequest
from pylti1p3.exception import OIDCException
from werkzeug.wrappers import Response

from .. import keys, tool_sessions
from ..requestscope import db, db_read, services
from ..web.pages import Visitor, render_home
from . import deep_linking
from .claims import CONTEXT, MESSAGE_TYPE
from .cookies import PartitionedCookieService
from .errors import LaunchRefused
from .launch import MicrocredMessageLaunch, warm_platform_key
from .login import MicrocredOIDCLogin, binding_cookie_name
from .provisioning import display_name, provision
from .state_lookup import peek_login_state
from .tool_config import DatabaseToolConf

log = logging.getLogger(__name__)
bp = Blueprint("lti", __name__, url_prefix="/lti")


def _tool_conf() -> DatabaseToolConf:
    session = db()
    svc = services()
    # Registration and deployment look-ups read through the request's read-only session:
    # on SQLite the write lock (BEGIN IMMEDIATE) is then taken only at the first write
    # (login: the state insert; launch: consuming the state), not for the whole request.
    return DatabaseToolConf(db_read(), lambda: svc.signing_keys.current(session), svc.registrations)


def _flask_request() -> FlaskRequest:
    # Parameters from the query string (GET) or the form (POST), as LTI allows both for login.
    data = request.form if request.method == "POST" else request.args
    return FlaskRequest(request_data=dict(data.items()), session={})


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    req = _flask_request()
    cookies = PartitionedCookieService(req, secure=services().settings.secure_cookies)
    oidc = MicrocredOIDCLogin(
        req, _tool_conf(), cookies, session=db(), settings=services().settings
    )
    try:
        start = oidc.start()
    except OIDCException as exc:
        raise LaunchRefused(f"The login request is not valid: {exc}") from exc
    services().housekeeper.maybe_purge(db())
    db().commit()
    if start.storage_target:
        response = Response(
            render_template(
                "lti/platform_storage_put.html",
                auth_url=start.auth_url,
                key=binding_cookie_name(start.state),
                value=start.browser_binding,
                target=start.storage_target,
                origin=start.platform_origin,
            ),
            mimetype="text/html",  # werkzeug's Response defaults to text/plain
        )
    else:
        response = redirect(start.auth_url, code=302)
    cookies.update_response(response)
    return response


@bp.route("/launch", methods=["POST"])
def launch() -> Response | tuple[str, int]:
    session, svc = db(), services()
    state = request.form.get("state", "")
    binding = request.cookies.get("lti1p3-" + binding_cookie_name(state)) if state else None
    binding = binding or request.form.get("lti_storage_value") or None
    if binding is None and state:
        pending = peek_login_state(db_read(), state)
        if pending is not None and pending.storage_target:
            # No cookie in this frame: ask the LMS frame for the value we stored at login.
            return Response(
                render_template(
                    "lti/platform_storage_get.html",
                    key=binding_cookie_name(state),
                    target=pending.storage_target,
                    origin=pending.platform_origin,
                    id_token=request.form.get("id_token", ""),
                    state=state,
                    new_window_url=svc.settings.url(pending.new_window_path),
                ),
                mimetype="text/html",
            )
        if pending is not None:
            log.warning("launch refused: state cookie missing and no platform storage")
            retried = request.form.get("lti_same_site_retry") == "1"
            in_frame = request.headers.get("Sec-Fetch-Dest") == "iframe"
            return (
                render_template(
                    "lti/new_window.html",
                    new_window_url=svc.settings.url(pending.new_window_path),
                    retried=retried,
                    # Top-level (the new window), post once more from our own site so a
                    # SameSite=Lax login cookie travels with it; platform_storage.js does it.
                    retry=None
                    if retried or in_frame
                    else {
                        "id_token": request.form.get("id_token", ""),
                        "state": state,
                    },
                ),
                403,
            )
    warm_platform_key(
        svc.platform_keys, request.form.get("id_token", ""), svc.settings.max_id_token_bytes
    )
    req = FlaskRequest(request_data=dict(request.form.items()), session={})
    cookies = PartitionedCookieService(req, secure=svc.settings.secure_cookies)
    message = MicrocredMessageLaunch(
        req,
        _tool_conf(),
        cookies,
        session=session,
        settings=svc.settings,
        platform_keys=svc.platform_keys,
        browser_binding=binding,
    )
    message.validate()
    claims = message.claims
    context = provision(session, message.deployment, claims)
    token = tool_sessions.start(
        session,
        context,
        message_type=str(claims[MESSAGE_TYPE]),
        launch_id=message.get_launch_id(),
        ttl=svc.settings.tool_session_ttl,
    )
    landing = deep_linking.landing(session, context, claims)
    session.commit()
    if landing is not None:  # deep-linking picker, or an achievement placed in the course
        moved = redirect(url_for(landing.endpoint, s=token, **landing.values), code=303)
        moved.delete_cookie("lti1p3-" + binding_cookie_name(state), path="/")
        return moved
    visitor = Visitor(
        name=display_name(claims),
        course=str((claims.get(CONTEXT) or {}).get("title") or ""),
        platform=message.registration.platform.name or message.registration.platform.issuer,
        role=context.role,
    )
    response = Response(render_home(visitor, token, from_launch=True), mimetype="text/html")
    # The login cookie has done its job.
    response.delete_cookie("lti1p3-" + binding_cookie_name(state), path="/")
    return response


@bp.get("/jwks")
def jwks() -> Response:
    response = jsonify(keys.published_jwks(db_read()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
