"""HTTP edge of the OB 3.0 API at ``/ims/ob/v3p0``: discovery, registration, authorization
(first-party sign-in + consent), token, revocation, getCredentials, getProfile.

Views are thin: parse, call :mod:`store` / :mod:`signin` / :mod:`resources` or Authlib, commit
once. Resource endpoints answer errors as ``Imsx_StatusInfo``; OAuth endpoints as RFC 6749.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from marshmallow import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.models import ObApiToken, User
from lti_tool.requestscope import db, db_read, services

from . import discovery, imsx, resources, signin, uploads
from . import scopes as S
from .schemas import CredentialsQuerySchema
from .server import EXTENSION_KEY, ObApiServer, TokenValidator

bp = Blueprint("obapi", __name__, url_prefix="/ims/ob/v3p0")

COOKIE: Final = "microcred_obapi"
PENDING_COOKIE: Final = "microcred_obapi_pending"
PENDING_TTL: Final = 900

protector = ResourceProtector()
protector.register_token_validator(TokenValidator())

# The consent and sign-in pages must never be framed (clickjacking of "Allow"), unlike the
# in-LMS pages, which the app lets any LMS frame.
PAGE_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "object-src 'none'; base-uri 'none'; form-action 'self' https: http:; frame-ancestors 'none'"
)


@bp.after_request
def _page_headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
    return response


def _server() -> ObApiServer:
    server: ObApiServer = current_app.extensions[EXTENSION_KEY]
    return server


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(data), status=status, mimetype="application/json")
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def _imsx(status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    return _json(imsx.status_info(status, description), status, headers)


def _cookie_args() -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "Lax",
        "secure": services().settings.secure_cookies,
        "path": bp.url_prefix,
    }


# -- discovery --------------------------------------------------------------------------------


@bp.get("/discovery")
def service_description() -> Response:
    settings = services().settings
    document = discovery.service_description(
        name=settings.tool_name,
        endpoints=discovery.Endpoints(
            base=settings.url(bp.url_prefix or ""),
            authorize=settings.url(url_for(".authorize")),
            token=settings.url(url_for(".token")),
            register=settings.url(url_for(".register")),
        ),
        image_url=settings.url(url_for("static", filename="icon.svg")),
        privacy_policy_url=settings.obapi_privacy_policy_url or settings.url("/"),
        terms_of_service_url=settings.obapi_terms_of_service_url or settings.url("/"),
        upsert=_server().upsert,
    )
    response = _json(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# -- registration, token, revocation (OAuth 2.0 bodies) -----------------------------------


@bp.post("/register")
def register() -> Response:
    response: Response = _server().create_endpoint_response("client_registration")
    db().commit()
    return response


@bp.post("/token")
def token() -> Response:
    response: Response = _server().create_token_response()
    db().commit()  # also keeps what a refused request revoked (a replayed code)
    return response


@bp.post("/revoke")
def revoke() -> Response:
    response: Response = _server().create_endpoint_response("revocation")
    db().commit()
    return response


# -- the learner's first-party sign-in -------------------------------------------------------


@bp.get("/signin")
def signin_link() -> BaseResponse | tuple[str, int]:
    """Turn a one-time link from the learner page into a first-party cookie session, then
    continue the authorization request that was waiting for it (if any)."""
    ttl = services().settings.obapi_signin_ttl
    cookie = signin.redeem_link(db(), request.args.get("t", ""), ttl=ttl)
    db().commit()
    if cookie is None:
        return render_template("obapi_signin.html", state="expired"), 400
    pending = request.cookies.get(PENDING_COOKIE, "")
    target = url_for(".authorize") + "?" + pending if pending else url_for(".signed_in")
    response = redirect(target, 303)
    response.set_cookie(COOKIE, cookie, max_age=ttl, **_cookie_args())
    response.delete_cookie(PENDING_COOKIE, **_cookie_args())
    return response


@bp.get("/signed-in")
def signed_in() -> tuple[str, int]:
    user = signin.session_user(db_read(), request.cookies.get(COOKIE))
    return render_template("obapi_signin.html", state="ok" if user else "missing", user=user), (
        200 if user else 401
    )


# -- authorization ---------------------------------------------------------------------------


def _authorization_error(error: OAuth2Error) -> Response | tuple[str, int]:
    if error.redirect_uri:  # the client and its redirect_uri are known: tell the client
        response: Response = _server().handle_error_response(None, error)
        return response
    return (
        render_template("obapi_error.html", error=error.error, description=error.description),
        400,
    )


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response | tuple[str, int]:
    server = _server()
    cookie = request.cookies.get(COOKIE, "")
    user = signin.session_user(db_read(), cookie)
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _authorization_error(error)
    if user is None:
        # Remember the request (query string only: never an open redirect) for after sign-in.
        page = render_template("obapi_signin.html", state="needed", client=grant.client)
        response = Response(page, status=401)
        response.set_cookie(
            PENDING_COOKIE,
            urlencode(list(request.args.items(multi=True))),
            max_age=PENDING_TTL,
            **_cookie_args(),
        )
        return response
    if request.method == "GET":
        return render_template(
            "obapi_consent.html",
            client=grant.client,
            redirect_host=urlsplit(grant.request.payload.redirect_uri).netloc,
            scopes=[(s, S.DESCRIPTIONS.get(s, s)) for s in (grant.request.scope or "").split()],
            user=user,
            csrf=signin.csrf_token(services().settings.secret_key, cookie),
            action=request.full_path,
        ), 200
    if not signin.check_csrf(services().settings.secret_key, cookie, request.form.get("csrf")):
        return render_template(
            "obapi_error.html",
            error="invalid_request",
            description="The form expired or did not come from this page. Start again.",
        ), 400
    approved = request.form.get("decision") == "approve"
    response = server.create_authorization_response(
        grant=grant, grant_user=user if approved else None
    )
    db().commit()
    return response


# -- resources --------------------------------------------------------------------------------


def _bearer(scope: str) -> ObApiToken | Response:
    try:
        found: ObApiToken = protector.acquire_token([scope])
    except OAuth2Error as error:
        status = error.status_code or 401
        description = {
            401: "A valid access token is required (Authorization: Bearer ...).",
            403: f"The access token does not grant the scope {scope}.",
        }.get(status, error.description or error.error or "refused")
        return _imsx(status, description, dict(error.get_headers()))
    return found


@bp.get("/credentials")
def get_credentials() -> Response:
    found = _bearer(S.CREDENTIAL_READONLY)
    if isinstance(found, Response):
        return found
    try:
        query = CredentialsQuerySchema().load(request.args)
    except ValidationError as exc:
        response = _json(
            imsx.status_info(
                400,
                f"invalid query: {exc.normalized_messages()}",
                code_minor="invalid_query_parameter",
            ),
            400,
        )
        return response
    session = db_read()
    user = session.get(User, found.user_id)
    if user is None:
        return _imsx(404, "the learner no longer exists")
    page = resources.credentials(
        session, user, limit=query["limit"], offset=query["offset"], since=query.get("since")
    )
    extra = {"since": request.args["since"]} if "since" in request.args else None
    return _json(
        page.body(),
        headers={
            "X-Total-Count": str(page.total),
            "Link": resources.link_header(
                services().settings.url(url_for(".get_credentials")), page, extra
            ),
        },
    )


@bp.post("/credentials")
def upsert_credential() -> Response:
    if not _server().upsert:
        return _imsx(405, "This host does not accept credentials (upsertCredential is disabled).")
    found = _bearer(S.CREDENTIAL_UPSERT)
    if isinstance(found, Response):
        return found
    try:
        parsed = uploads.parse(request.get_data(cache=False), request.mimetype)
    except uploads.UploadRefused as exc:
        return _imsx(400, str(exc))
    session = db()
    user = session.get(User, found.user_id)
    if user is None:
        return _imsx(404, "the learner no longer exists")
    created = uploads.upsert(session, user, found.client, parsed)
    session.commit()
    if parsed.credential is not None:
        return _json(parsed.credential, 201 if created else 200)
    response = Response(parsed.compact_jws, status=201 if created else 200, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/profile")
def get_profile() -> Response:
    found = _bearer(S.PROFILE_READONLY)
    if isinstance(found, Response):
        return found
    user = db_read().get(User, found.user_id)
    if user is None:
        return _imsx(404, "the learner no longer exists")
    return _json(resources.profile(user))


@bp.put("/profile")
def put_profile() -> Response:
    return _imsx(405, "This host does not accept profile updates (putProfile).")
