"""REST API machine clients (OAuth 2.0 client credentials), their access tokens and the
responses remembered for `Idempotency-Key` replays. Each client belongs to one tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .awards import Award
from .base import Base, CreatedAtMixin, utcnow

# Scopes per resource and verb; a client holds a subset.
SCOPES = (
    "achievements:read",
    "achievements:write",
    "awards:read",
    "awards:write",
    "learners:read",
    "pathways:read",
    "pathways:write",
    "connections:admin",
    "deliveries:read",
    "deliveries:write",
)


class ApiClient(CreatedAtMixin, Base):
    """A machine client of one tenant. Only a password hash of its secret is kept."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platforms.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    secret_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_token_at: Mapped[datetime | None] = mapped_column(default=None)  # last token issued

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class ApiToken(Base):
    """An access token, stored as the SHA-256 of its (random, 256-bit) value."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index(None, "api_client_id", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    client: Mapped[ApiClient] = relationship(lazy="joined")


class IdempotencyRecord(Base):
    """The response to a POST made with an `Idempotency-Key`, replayed on a repeat.

    `status_code` is NULL while the first request is still being processed."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("api_client_id", "key"), Index(None, "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(default=None)
    response_body: Mapped[str | None] = mapped_column(Text, default=None)
    response_headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Keyset pagination of `GET /api/v1/awards?updated_since=...` walks (platform_id, updated_at,
# id): this index makes each page one index range scan (migration 0006_api creates it).
AWARDS_UPDATED_INDEX = Index(
    "ix_awards_platform_id_updated_at_id", Award.platform_id, Award.updated_at, Award.id
)
