"""LMS registrations (issuer + client id) and their deployments: the tenant root."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, CreatedAtMixin


class Platform(CreatedAtMixin, Base):
    """One registration of this tool in one LMS: keyed by (issuer, client_id)."""

    __tablename__ = "platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(1024))
    client_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    auth_login_url: Mapped[str] = mapped_column(String(2048))
    auth_token_url: Mapped[str] = mapped_column(String(2048))
    auth_audience: Mapped[str | None] = mapped_column(String(2048), default=None)
    key_set_url: Mapped[str] = mapped_column(String(2048))
    # What the platform told us at dynamic registration (product family, version, ...).
    product: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A signed launch with an unknown deployment id creates that deployment (set by dynamic
    # registration: Canvas creates deployments only when an admin installs the app later).
    auto_deployments: Mapped[bool] = mapped_column(default=False, server_default=false())

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="platform", cascade="all, delete-orphan", order_by="Deployment.id"
    )


class Deployment(CreatedAtMixin, Base):
    """A deployment id the platform uses for this registration (account, course, ...)."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    last_launch_at: Mapped[datetime | None] = mapped_column(default=None)

    platform: Mapped[Platform] = relationship(back_populates="deployments")


class PlatformKeySet(Base):
    """The platform's JWKS as last downloaded, shared by every worker process."""

    __tablename__ = "platform_key_sets"

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True
    )
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[datetime]
