"""Managing connections: create with validated settings and encrypted secrets, pause, test."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Result
from connectors.registry import Registry, default_registry
from connectors.settings import secret_fields
from lti_tool.models import Connection, IdentityMapping, Platform, utcnow
from lti_tool.models.sync import (
    MAPPING_EMAIL,
    MAPPING_HR_ID_PREFIX,
    MAPPING_LTI_SUB,
    MAPPING_TABLE,
)
from lti_tool.secretbox import SecretBox


class ConnectionConfigError(ValueError):
    """A connection that cannot be created or changed; the message is for the admin."""


def check_mapping(mode: str) -> str:
    if mode in (MAPPING_EMAIL, MAPPING_LTI_SUB, MAPPING_TABLE):
        return mode
    if mode.startswith(MAPPING_HR_ID_PREFIX) and len(mode) > len(MAPPING_HR_ID_PREFIX):
        return mode
    raise ConnectionConfigError(
        f"identity mapping {mode!r} is not one of email, lti_sub, hr_id:<key>, table"
    )


def add_connection(
    session: Session,
    box: SecretBox,
    *,
    platform_id: int,
    connector: str,
    name: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any],
    identity_mapping: str = MAPPING_LTI_SUB,
    rate_limit_per_minute: int | None = None,
    registry: Registry | None = None,
) -> Connection:
    """Validate with the connector's schema, encrypt the secrets, insert the row."""
    registry = registry or default_registry
    if session.get(Platform, platform_id) is None:
        raise ConnectionConfigError(f"no platform {platform_id}")
    schema = registry.get(connector).settings_schema
    hidden = secret_fields(schema)
    misplaced = sorted(set(settings) & hidden)
    if misplaced:
        raise ConnectionConfigError(
            f"secret field(s) {', '.join(misplaced)} must be given as secrets"
        )
    registry.validate_settings(connector, settings, secrets)  # raises SettingsError
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise ConnectionConfigError("the rate limit is at least 1 request per minute")
    exists = session.scalar(
        select(Connection.id).where(Connection.platform_id == platform_id, Connection.name == name)
    )
    if exists is not None:
        raise ConnectionConfigError(
            f"platform {platform_id} already has a connection named {name!r}"
        )
    connection = Connection(
        platform_id=platform_id,
        connector=connector,
        name=name,
        settings=dict(settings),
        secrets_encrypted=box.encrypt(json.dumps(dict(secrets)).encode()) if secrets else None,
        identity_mapping=check_mapping(identity_mapping),
        rate_limit_per_minute=rate_limit_per_minute,
    )
    session.add(connection)
    session.flush()
    return connection


def stored_secrets(connection: Connection, box: SecretBox) -> dict[str, Any]:
    """The connection's secret settings, decrypted (never display or log them)."""
    if not connection.secrets_encrypted:
        return {}
    loaded: dict[str, Any] = json.loads(box.decrypt(connection.secrets_encrypted))
    return loaded


def update_connection(
    session: Session,
    box: SecretBox,
    connection: Connection,
    *,
    name: str,
    settings: Mapping[str, Any],
    new_secrets: Mapping[str, Any],
    identity_mapping: str,
    rate_limit_per_minute: int | None,
    enabled: bool,
    registry: Registry | None = None,
) -> Connection:
    """Change a connection. ``new_secrets`` replaces only the secret fields it holds; the
    others keep their stored values (secrets are write-only: nobody reads them back)."""
    registry = registry or default_registry
    hidden = secret_fields(registry.get(connection.connector).settings_schema)
    misplaced = sorted(set(settings) & hidden)
    if misplaced:
        raise ConnectionConfigError(
            f"secret field(s) {', '.join(misplaced)} must be given as secrets"
        )
    secrets = {**stored_secrets(connection, box), **new_secrets}
    registry.validate_settings(connection.connector, settings, secrets)  # raises SettingsError
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise ConnectionConfigError("the rate limit is at least 1 request per minute")
    taken = session.scalar(
        select(Connection.id).where(
            Connection.platform_id == connection.platform_id,
            Connection.name == name,
            Connection.id != connection.id,
        )
    )
    if taken is not None:
        raise ConnectionConfigError(f"this platform already has a connection named {name!r}")
    connection.name = name
    connection.settings = dict(settings)
    connection.secrets_encrypted = box.encrypt(json.dumps(secrets).encode()) if secrets else None
    connection.identity_mapping = check_mapping(identity_mapping)
    if connection.rate_limit_per_minute != rate_limit_per_minute:
        connection.bucket_tokens = None  # the bucket refills at the new rate
        connection.bucket_updated_at = None
    connection.rate_limit_per_minute = rate_limit_per_minute
    connection.enabled = enabled
    connection.updated_at = utcnow()  # workers rebuild their connector for the new settings
    session.flush()
    return connection


def pause(connection: Connection, reason: str) -> None:
    connection.paused = True
    connection.pause_reason = reason
    connection.updated_at = utcnow()


def check_connection(
    connection: Connection,
    box: SecretBox,
    http: requests.Session,
    registry: Registry | None = None,
) -> Result:
    """Run the connector's check() (call it with no transaction open)."""
    registry = registry or default_registry
    secrets = stored_secrets(connection, box)
    connector = registry.get(connection.connector)(dict(connection.settings), secrets, http)
    return connector.check()


def import_identity_mapping(
    session: Session, connection: Connection, rows: Iterable[Mapping[str, str]]
) -> int:
    """Upsert (LTI ``sub`` -> target id) rows for a connection in mapping mode ``table``.

    ``rows`` are CSV records with the columns ``sub`` and ``external_id``; returns how many
    were written. Raises ConnectionConfigError naming the first bad line.
    """
    if connection.identity_mapping != MAPPING_TABLE:
        raise ConnectionConfigError(
            f"connection {connection.id} maps identities by {connection.identity_mapping!r}, "
            "not by table"
        )
    wanted: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        sub = (row.get("sub") or "").strip()
        external_id = (row.get("external_id") or "").strip()
        if not sub or not external_id or len(sub) > 255 or len(external_id) > 255:
            raise ConnectionConfigError(
                f"line {line}: needs a sub and an external_id (1 to 255 characters each)"
            )
        wanted[sub] = external_id
    existing = {
        m.sub: m
        for m in session.scalars(
            select(IdentityMapping).where(
                IdentityMapping.connection_id == connection.id,
                IdentityMapping.sub.in_(list(wanted)),
            )
        )
    }
    for sub, external_id in wanted.items():
        if sub in existing:
            existing[sub].external_id = external_id
        else:
            session.add(
                IdentityMapping(connection_id=connection.id, sub=sub, external_id=external_id)
            )
    session.flush()
    return len(wanted)
