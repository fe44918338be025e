"""Open Badges 3.0 API (`/ims/ob/v3p0`): OAuth 2.0 clients registered dynamically (RFC 7591),
authorization codes (PKCE S256), access/refresh tokens, and first-party browser sign-ins.

Secrets never sit in the database in the clear: client secrets, codes, tokens and browser
sign-in tokens are stored as SHA-256 hex digests of random 256-bit (or longer) values.
Clients are global (a wallet registers once); every code, token and sign-in belongs to one
user, and a user belongs to one platform (tenant).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, CreatedAtMixin, utcnow
from .people import User

SIGNIN_LINK = "link"  # one-time link handed out on the learner page
SIGNIN_SESSION = "session"  # the first-party cookie session it turns into


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class ObApiClient(CreatedAtMixin, ClientMixin, Base):
    """A wallet or HR portal registered through Dynamic Client Registration."""

    __tablename__ = "obapi_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    client_name: Mapped[str] = mapped_column(String(255))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(Text, default="")
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    response_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    # The other RFC 7591 metadata as registered (client_uri, logo_uri, tos_uri, ...).
    client_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # -- authlib ClientMixin -----------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Several URIs registered: the request must name one (RFC 6749 §3.1.2.3).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes this client registered (all of them when none are asked);
        None (invalid_scope) when none of the requested ones is registered."""
        allowed = scope_to_list(self.scope) or []
        if not scope:
            return str(list_to_scope(allowed))
        granted = [s for s in scope_to_list(scope) or [] if s in allowed]
        return str(list_to_scope(granted)) if granted else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match, no prefix matching

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(secret_hash(client_secret), self.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token" or endpoint == "revocation":
            return method == self.token_endpoint_auth_method
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class ObApiAuthorizationCode(CreatedAtMixin, AuthorizationCodeMixin, Base):
    """A single-use authorization code. Kept (with `used_at`) after use, so that a replayed
    code can revoke the tokens issued for it (RFC 6749 §4.1.2)."""

    __tablename__ = "obapi_authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("obapi_clients.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class ObApiToken(CreatedAtMixin, TokenMixin, Base):
    """An access token and its refresh token (both hashed), delegated by one learner."""

    __tablename__ = "obapi_tokens"
    __table_args__ = (Index(None, "user_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("obapi_clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    authorization_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("obapi_authorization_codes.id", ondelete="SET NULL"), default=None, index=True
    )
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    scope: Mapped[str] = mapped_column(Text, default="")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_in: Mapped[int] = mapped_column()
    refresh_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    client: Mapped[ObApiClient] = relationship(lazy="joined")
    user: Mapped[User] = relationship()

    # -- authlib TokenMixin ------------------------------------------------------------
    def check_client(self, client: ClientMixin) -> bool:
        return isinstance(client, ObApiClient) and client.id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    @property
    def expires_at(self) -> datetime:
        return self.issued_at + timedelta(seconds=self.expires_in)

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_user(self) -> User:
        return self.user

    def get_client(self) -> ObApiClient:
        return self.client


class ObApiSignIn(CreatedAtMixin, Base):
    """A learner's first-party sign-in for the authorization endpoint: first a one-time link
    (kind "link", minutes), then the cookie session it turns into (kind "session")."""

    __tablename__ = "obapi_signins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    user: Mapped[User] = relationship()


class ObApiUpload(CreatedAtMixin, Base):
    """A credential a connected client wrote for the learner (upsertCredential, when the
    operator enables it). Stored as received and unverified, as the spec says; one row per
    (learner, credential id)."""

    __tablename__ = "obapi_uploads"
    __table_args__ = (UniqueConstraint("user_id", "credential_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("obapi_clients.id", ondelete="SET NULL"), default=None
    )
    credential_key: Mapped[str] = mapped_column(String(64))  # SHA-256 of the credential id
    credential_id: Mapped[str] = mapped_column(Text)
    credential: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    compact_jws: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
