"""Open Badges 3.0 issuance: issuer signing keys, signed credentials, Bitstring Status Lists.

One issuer identity per deployment of the tool: the did:web of MICROCRED_PUBLIC_URL (did:key per
key when the public URL is not https, for local use). The `issuer` column keys every row on that
identity, so per-tenant issuers later are new rows, not a schema change. Tenants still appear by
name: each credential's issuer `Profile` carries the tenant's issuer profile fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .awards import Award
from .base import Base, CreatedAtMixin, utcnow

ISSUER_KEY_CURRENT = "current"  # signs new credentials and status lists
ISSUER_KEY_RETIRED = "retired"  # still published under assertionMethod: old proofs verify

PURPOSE_REVOCATION = "revocation"
PURPOSE_SUSPENSION = "suspension"
PURPOSES = (PURPOSE_REVOCATION, PURPOSE_SUSPENSION)


class IssuerKey(CreatedAtMixin, Base):
    """An Ed25519 signing key of an issuer, its secret encrypted with the SecretBox."""

    __tablename__ = "issuer_keys"
    __table_args__ = (
        # At most one current key per issuer (partial unique index on both backends).
        Index(
            "ix_issuer_keys_one_current",
            "issuer",
            unique=True,
            sqlite_where=text("status = 'current'"),
            postgresql_where=text("status = 'current'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512), index=True)  # did:web:... or "did:key"
    status: Mapped[str] = mapped_column(String(16))
    public_key_multibase: Mapped[str] = mapped_column(String(64), unique=True)
    # Multikey secret key ("z" + base58btc(0x8026 + seed)) encrypted with the SecretBox.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class StatusList(Base):
    """One W3C Bitstring Status List of an issuer, served at /status/<purpose>/<number>.

    `version` grows on every bit flip; `signed` is the status list credential signed for
    `signed_version` (re-signed in the transaction that flips a bit).
    """

    __tablename__ = "status_lists"
    __table_args__ = (UniqueConstraint("issuer", "purpose", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(16))  # revocation | suspension
    number: Mapped[int] = mapped_column()
    size: Mapped[int] = mapped_column()
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    allocated: Mapped[int] = mapped_column(default=0)
    full: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    signed: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    signed_version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusListAllocation(Base):
    """An index handed out in a status list. Rows are never deleted: indexes are never reused,
    even when the credential that held one is gone (tenant removal)."""

    __tablename__ = "status_list_allocations"
    __table_args__ = (PrimaryKeyConstraint("status_list_id", "index"),)

    status_list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"))
    index: Mapped[int] = mapped_column()


class IssuedCredential(CreatedAtMixin, Base):
    """The signed OB 3.0 credential of one award (eddsa-rdfc-2022 proof array + VC-JWT)."""

    __tablename__ = "issued_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # /credentials/<public_id>
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id", ondelete="CASCADE"), unique=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platforms.id", ondelete="CASCADE"), index=True
    )
    credential: Mapped[dict[str, Any]] = mapped_column(JSON)
    vc_jwt: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[int] = mapped_column(ForeignKey("issuer_keys.id"))
    # The learner's name when issued (the credential itself only carries hashed identifiers).
    learner_name: Mapped[str] = mapped_column(String(255), default="")
    revocation_list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"))
    revocation_index: Mapped[int] = mapped_column()
    suspension_list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"))
    suspension_index: Mapped[int] = mapped_column()

    award: Mapped[Award] = relationship()
    key: Mapped[IssuerKey] = relationship()
    revocation_list: Mapped[StatusList] = relationship(foreign_keys=[revocation_list_id])
    suspension_list: Mapped[StatusList] = relationship(foreign_keys=[suspension_list_id])
