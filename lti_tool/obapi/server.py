"""The OAuth 2.0 side of the OB 3.0 API, on Authlib.

* Dynamic Client Registration (RFC 7591), open as the spec asks (no initial access token):
  ``client_name``, ``redirect_uris`` (https, or http on a loopback address), ``scope`` (a subset
  of what this host offers) are required; clients authenticate with their secret (basic/post).
* Authorization code grant with PKCE required, S256 only, for every client; codes single use,
  600 s; a replayed code revokes the tokens issued for it.
* Refresh tokens (rotated on use; the old pair is revoked) and token revocation (RFC 7009).
* Bearer token validation for the resource endpoints.

Authlib calls the hooks below inside the request; they write through the request's database
session, and the view commits once.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7591 import ClientMetadataClaims, ClientRegistrationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask
from joserfc.errors import InvalidClaimError

from lti_tool.models import ObApiClient, ObApiToken, User
from lti_tool.requestscope import db, db_read
from lti_tool.settings import Settings

from . import scopes as S
from . import store

EXTENSION_KEY = "microcred.obapi"
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
GRANT_TYPES = ["authorization_code", "refresh_token"]


# -- registration -----------------------------------------------------------------------------


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class ObClientMetadata(ClientMetadataClaims):
    """RFC 7591 metadata with what an OB 3.0 client must send."""

    def validate_client_name(self) -> None:
        name = self.get("client_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise InvalidClaimError("client_name")

    def validate_redirect_uris(self) -> None:
        uris = self.get("redirect_uris")
        if not isinstance(uris, list) or not uris or len(uris) > 10:
            raise InvalidClaimError("redirect_uris")
        for uri in uris:
            if not isinstance(uri, str) or len(uri) > 2000:
                raise InvalidClaimError("redirect_uris")
            parts = urlsplit(uri)
            secure = parts.scheme == "https" or (
                parts.scheme == "http" and _is_loopback(parts.hostname)
            )
            if not secure or not parts.hostname or parts.fragment:
                raise InvalidClaimError("redirect_uris")
        super().validate_redirect_uris()

    def validate_scope(self) -> None:
        scope = self.get("scope")
        if not isinstance(scope, str) or not scope.split():
            raise InvalidClaimError("scope")

    def validate_grant_types(self) -> None:
        self.setdefault("grant_types", ["authorization_code"])

    def validate_response_types(self) -> None:
        self.setdefault("response_types", ["code"])


class Registration(ClientRegistrationEndpoint):
    def __init__(self, server: ObApiServer) -> None:
        super().__init__(server, claims_classes=[ObClientMetadata])

    def authenticate_token(self, request: Any) -> bool:
        return True  # OB 3.0: registration needs no initial access token

    def get_server_metadata(self) -> dict[str, Any]:
        server: ObApiServer = self.server
        return {
            "scopes_supported": list(server.scopes_supported),
            "response_types_supported": ["code"],
            "grant_types_supported": GRANT_TYPES,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
        }

    def generate_client_id(self, request: Any) -> str:
        return store.new_secret(24)

    def generate_client_secret(self, request: Any) -> str:
        return store.new_secret(32)

    def save_client(
        self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any
    ) -> ObApiClient:
        return store.register_client(
            db(),
            client_metadata,
            client_id=client_info["client_id"],
            client_secret=client_info["client_secret"],
        )


# -- grants -----------------------------------------------------------------------------------


class S256Required(CodeChallenge):
    """PKCE for every client and every request, S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_authorization_request(self) -> str:
        if not self.request.payload.redirect_uri:
            raise InvalidRequestError("redirect_uri is required.")
        return str(super().validate_authorization_request())

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        store.save_code(
            db(),
            code,
            client=request.client,
            user_id=request.user.id,
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope or "",
            code_challenge=str(data["code_challenge"]),
            code_challenge_method=str(data["code_challenge_method"]),
        )

    def query_authorization_code(self, code: str, client: ObApiClient) -> Any:
        return store.redeemable_code(db(), code, client)

    def delete_authorization_code(self, authorization_code: Any) -> None:
        store.mark_code_used(db(), authorization_code)

    def authenticate_user(self, authorization_code: Any) -> User | None:
        return db().get(User, authorization_code.user_id)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate

    def authenticate_refresh_token(self, refresh_token: str) -> ObApiToken | None:
        return store.token_by_refresh(db(), refresh_token)

    def authenticate_user(self, refresh_token: ObApiToken) -> User | None:
        return db().get(User, refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: ObApiToken) -> None:
        store.revoke_token(db(), refresh_token)


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> ObApiToken | None:
        return store.find_token(db(), token_string, token_type_hint)

    def revoke_token(self, token: ObApiToken, request: Any) -> None:
        store.revoke_token(db(), token)


class TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> ObApiToken | None:
        return store.token_by_access(db_read(), token_string)


# -- the server -------------------------------------------------------------------------------


class ObApiServer(AuthorizationServer):
    def __init__(self, app: Flask, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.upsert = settings.obapi_upsert == "enabled"
        self.scopes_supported = list(S.supported(upsert=self.upsert))
        self._refresh_ttl = settings.obapi_refresh_token_ttl
        access_ttl = settings.obapi_access_token_ttl
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda **_: store.new_secret(32),
                lambda **_: store.new_secret(48),
                lambda client, grant_type: access_ttl,
            ),
        )
        self.register_grant(CodeGrant, [S256Required(required=True)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Registration(self))

    def load_config(self, config: Any) -> None:  # settings come from Settings, not app.config
        return None

    def query_client(self, client_id: str) -> ObApiClient | None:
        # Read-only lookup (writes only ever refer to client.id): a consent page takes no
        # SQLite write lock.
        return store.find_client(db_read(), client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        code = getattr(request, "authorization_code", None)
        previous = getattr(request, "refresh_token", None)
        code_id = code.id if code is not None else None
        if code_id is None and isinstance(previous, ObApiToken):
            code_id = previous.authorization_code_id
        store.save_token(
            db(),
            token,
            client=request.client,
            user_id=request.user.id,
            refresh_ttl=self._refresh_ttl,
            code_id=code_id,
        )


def install(app: Flask, settings: Settings) -> ObApiServer:
    server = ObApiServer(app, settings)
    app.extensions[EXTENSION_KEY] = server
    return server
