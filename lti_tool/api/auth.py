"""OAuth 2.0 client credentials (Authlib): the token endpoint and bearer-token checks.

`POST /api/v1/oauth/token` (client_secret_basic or client_secret_post) issues an opaque
bearer token for the scopes asked for (default: all the client holds); only its SHA-256 is
stored. `authorize(bp, scope)` guards a view: valid, unexpired, unrevoked token of an
unrevoked client holding `scope`, else a 401/403 problem; then the client's rate limit.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Error, TokenMixin
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Blueprint, Flask, Response, current_app, g
from flask_smorest import Blueprint as ApiBlueprint
from sqlalchemy import delete, select

from lti_tool.credentials.audit import ActorRef
from lti_tool.models import ApiClient, ApiToken, utcnow
from lti_tool.models.api_clients import SCOPES
from lti_tool.requestscope import db_read, services
from lti_tool.settings import Settings

from . import clients, ratelimit
from .errors import ApiProblem

F = TypeVar("F", bound=Callable[..., Any])
TOKEN_PATH = "/api/v1/oauth/token"  # noqa: S105 (a path, not a secret)
SECURITY_SCHEME = "oauth2"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApiPrincipal:
    """The authenticated client of this request, as plain values."""

    client_pk: int
    client_id: str
    platform_id: int
    scopes: frozenset[str]

    @property
    def actor(self) -> ActorRef:
        return ActorRef(f"api-client:{self.client_pk}")


def principal() -> ApiPrincipal:
    found: ApiPrincipal = g.api_principal
    return found


# -- Authlib models ------------------------------------------------------------------------


class OAuthClient(ClientMixin):
    """An ApiClient row as Authlib sees it (plain values, no session attached)."""

    def __init__(self, row: ApiClient) -> None:
        self.id = row.id
        self.client_id = row.client_id
        self.secret_hash = row.secret_hash
        self.scopes = list(row.scopes)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.scopes)
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return clients.check_secret(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == ClientCredentialsGrant.GRANT_TYPE


class OAuthToken(TokenMixin):
    def __init__(self, row: ApiToken) -> None:
        self.row = row
        self.principal = ApiPrincipal(
            client_pk=row.client.id,
            client_id=row.client.client_id,
            platform_id=row.client.platform_id,
            scopes=frozenset(row.scopes),
        )

    def check_client(self, client: ClientMixin) -> bool:
        return bool(client.get_client_id() == self.principal.client_id)

    def get_scope(self) -> str:
        return " ".join(sorted(self.principal.scopes))

    def get_expires_in(self) -> int:
        return max(0, int((self.row.expires_at - self.row.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return bool(self.row.expires_at <= utcnow())

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.client.revoked_at is not None


def _query_client(client_id: str) -> OAuthClient | None:
    with services().database.read_session() as session:
        row = session.scalars(
            select(ApiClient).where(ApiClient.client_id == client_id)
        ).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return OAuthClient(row)


def _save_token(token: dict[str, Any], request: Any) -> None:
    client: OAuthClient = request.client
    now = utcnow()
    with services().database.session() as session:
        # Tokens expired for a day are of no use to anyone: drop them as new ones are issued.
        session.execute(
            delete(ApiToken).where(
                ApiToken.api_client_id == client.id,
                ApiToken.expires_at < now - timedelta(days=1),
            )
        )
        session.add(
            ApiToken(
                api_client_id=client.id,
                token_hash=token_hash(token["access_token"]),
                scopes=(token.get("scope") or "").split(),
                issued_at=now,
                expires_at=now + timedelta(seconds=int(token["expires_in"])),
            )
        )
        row = session.get(ApiClient, client.id)
        if row is not None:
            row.last_token_at = now


class _Validator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> OAuthToken | None:
        row = (
            db_read()
            .scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(token_string)))
            .one_or_none()
        )
        return None if row is None else OAuthToken(row)


class _Protector(ResourceProtector):
    def raise_error_response(self, error: OAuth2Error) -> None:
        status = int(error.status_code)
        headers = dict(error.get_headers())
        detail = {
            401: "Send a valid, unexpired bearer token: POST /api/v1/oauth/token first.",
            403: "The token lacks the scope this operation needs.",
        }.get(status, error.description or None)
        kind = {401: "unauthorized", 403: "insufficient-scope"}.get(status)
        www = headers.get("WWW-Authenticate")
        raise ApiProblem(
            status, detail, kind=kind, headers={"WWW-Authenticate": www} if www else {}
        )


protector = _Protector()
protector.register_token_validator(_Validator(realm="microcred"))


# -- wiring ----------------------------------------------------------------------------------


class _ClientCredentials(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def init_app(app: Flask, settings: Settings) -> AuthorizationServer:
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": settings.api_token_lifetime}
    app.config["OAUTH2_SCOPES_SUPPORTED"] = list(SCOPES)
    server = AuthorizationServer(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(_ClientCredentials)
    app.extensions["microcred_oauth"] = server
    return server


token_bp = Blueprint("api_oauth", __name__)


@token_bp.post(TOKEN_PATH)
@ratelimit.per_address
def issue_token() -> Response:
    """RFC 6749 token endpoint; errors are RFC 6749 JSON (what OAuth client libraries read)."""
    server: AuthorizationServer = current_app.extensions["microcred_oauth"]
    try:
        response: Response = server.create_token_response()
    except InsecureTransportError as error:  # raised before Authlib's own error handling
        response = server.handle_error_response(None, error)
    return response


def authorize(bp: ApiBlueprint, scope: str) -> Callable[[F], F]:
    """Guard a view with a bearer token holding `scope`, then the client's rate limit.

    Put it right under `@bp.route(...)`: authentication comes before input validation."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(func: F) -> F:
        documented = bp.doc(security=[{SECURITY_SCHEME: [scope]}])(func)
        limited = ratelimit.per_client(documented)

        @functools.wraps(documented)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                token = protector.acquire_token([scope])
            except OAuth2Error as error:
                protector.raise_error_response(error)
            g.api_principal = token.principal
            return limited(*args, **kwargs)

        return cast(F, wrapper)

    return decorator
