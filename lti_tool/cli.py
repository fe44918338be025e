"""`microcred` command line: serve, db upgrade, platforms, keys."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from . import keys as tool_keys
from . import migrate
from .db import Database
from .models import Platform
from .platforms import PlatformError, add_platform, remove_platform
from .secretbox import SecretBox
from .settings import Settings, SettingsError, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> NoReturn:
    click.echo(f"microcred: {message}", err=True)
    sys.exit(2)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(f"configuration error: {exc}")


def _database(settings: Settings) -> Database:
    return Database(settings.database_url)


def _pending(database: Database) -> list[str]:
    try:
        return migrate.pending_revisions(database)
    except migrate.MigrationError as exc:
        _fail(str(exc))


@click.group()
@click.version_option(package_name="microcred")
def main() -> None:
    """Microcred: verifiable micro-credentials for any LTI 1.3 LMS."""


# -- serve ------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes."
)
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Threads per worker (more than 1 selects gunicorn's gthread workers).",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Log each request (path only, never the query string).",
)
def serve(host: str, port: int, workers: int, threads: int, access_log: bool) -> None:
    """Serve the tool with gunicorn (migrations applied first on the embedded default)."""
    settings = _settings()
    database = _database(settings)
    pending = _pending(database)
    if pending:
        if settings.is_sqlite:
            migrate.upgrade(database)
            click.echo(f"Applied {len(pending)} database migration(s).")
        else:
            _fail(
                f"{len(pending)} database migration(s) pending: run `microcred db upgrade` "
                "before serving"
            )
    with database.session() as session:
        tool_keys.ensure_keys(
            session, SecretBox(settings.secret_key, settings.previous_secret_keys)
        )
    database.dispose()
    _print_admin_urls(settings)

    from .server import run_gunicorn

    run_gunicorn(
        settings, host=host, port=port, workers=workers, threads=threads, access_log=access_log
    )


def _print_admin_urls(settings: Settings) -> None:
    rows = [
        ("Dynamic registration (Moodle, Canvas)", settings.url("/lti/register")),
        ("Canvas developer key JSON URL", settings.url("/lti/config/canvas.json")),
        ("OIDC login (initiation) URL", settings.url("/lti/login")),
        ("Launch / redirect URL", settings.url("/lti/launch")),
        ("Public keyset (JWKS) URL", settings.url("/lti/jwks")),
    ]
    click.echo(f"Microcred for LMS administrators (public URL {settings.public_url}):")
    for label, url in rows:
        click.echo(f"  {label:<40} {url}")
    if settings.is_sqlite:
        click.echo(f"  Database: {settings.database_url}")


# -- db ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    settings = _settings()
    database = _database(settings)
    pending = _pending(database)
    migrate.upgrade(database)
    with database.session() as session:
        tool_keys.ensure_keys(
            session, SecretBox(settings.secret_key, settings.previous_secret_keys)
        )
    click.echo(f"Database is current ({len(pending)} migration(s) applied).")


# -- platforms --------------------------------------------------------------------------


def _with_session(fn: Callable[[Session], Any]) -> Any:
    settings = _settings()
    database = _database(settings)
    if _pending(database):
        _fail("the database schema is not current: run `microcred db upgrade` first")
    try:
        with database.session() as session:
            return fn(session)
    except PlatformError as exc:
        _fail(str(exc))


@main.group()
def platforms() -> None:
    """LMS registrations (issuer + client id) and their deployments."""


@platforms.command("add")
@click.option("--issuer", required=True, help="The platform's issuer (iss), e.g. its site URL.")
@click.option("--client-id", required=True, help="The client id the LMS gave this tool.")
@click.option("--auth-login-url", required=True, help="The LMS's OIDC authorization URL.")
@click.option("--auth-token-url", required=True, help="The LMS's OAuth 2.0 token URL.")
@click.option("--key-set-url", required=True, help="The LMS's public keyset (JWKS) URL.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    required=True,
    help="A deployment id (repeat for several).",
)
@click.option("--name", default="", help="A name for people (default: the issuer's host).")
@click.option("--auth-audience", default=None, help="Token audience if not the token URL.")
def platforms_add(
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    deployment_ids: tuple[str, ...],
    name: str,
    auth_audience: str | None,
) -> None:
    """Register an LMS (or add deployments to an existing registration)."""

    def run(session: Session) -> tuple[Platform, bool]:
        return add_platform(
            session,
            issuer=issuer,
            client_id=client_id,
            auth_login_url=auth_login_url,
            auth_token_url=auth_token_url,
            key_set_url=key_set_url,
            deployment_ids=deployment_ids,
            name=name,
            auth_audience=auth_audience,
        )

    platform, created = _with_session(run)
    verb = "Registered" if created else "Updated"
    click.echo(f"{verb} platform {platform.id}: {platform.issuer} (client id {platform.client_id})")


@platforms.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def platforms_list(as_json: bool) -> None:
    """List registrations and their deployments."""

    def run(session: Session) -> list[dict[str, Any]]:
        rows = session.scalars(
            select(Platform).options(selectinload(Platform.deployments)).order_by(Platform.id)
        ).all()
        return [
            {
                "id": p.id,
                "name": p.name,
                "issuer": p.issuer,
                "client_id": p.client_id,
                "auth_login_url": p.auth_login_url,
                "auth_token_url": p.auth_token_url,
                "key_set_url": p.key_set_url,
                "deployment_ids": [d.deployment_id for d in p.deployments if d.active],
            }
            for p in rows
        ]

    items = _with_session(run)
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo("No platforms registered. Add one with `microcred platforms add`.")
    for item in items:
        click.echo(
            f"{item['id']:>4}  {item['name'] or '-':<24} {item['issuer']}  "
            f"client_id={item['client_id']}  deployments={','.join(item['deployment_ids'])}"
        )


@platforms.command("remove")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    help="Remove only these deployments (default: the whole registration and its data).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def platforms_remove(
    issuer: str, client_id: str, deployment_ids: tuple[str, ...], yes: bool
) -> None:
    """Remove a registration (with everything that hangs off it) or some deployments."""
    if not deployment_ids and not yes:
        click.confirm(
            f"Remove {issuer} ({client_id}) and all its users, courses and sessions?", abort=True
        )
    removed = _with_session(
        lambda s: remove_platform(
            s, issuer=issuer, client_id=client_id, deployment_ids=deployment_ids
        )
    )
    click.echo(removed)


# -- keys -------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """The tool's signing keys (published at /lti/jwks)."""


def _box() -> SecretBox:
    settings = _settings()
    return SecretBox(settings.secret_key, settings.previous_secret_keys)


@keys.command("rotate")
def keys_rotate() -> None:
    """Make the next key the signing key; the old one stays published until pruned."""
    box = _box()
    current = _with_session(lambda s: tool_keys.rotate(s, box).kid)
    click.echo(f"Signing key is now {current}. Older keys stay published until `keys prune`.")


@keys.command("prune")
def keys_prune() -> None:
    """Stop publishing retired keys."""
    count = _with_session(tool_keys.prune)
    click.echo(f"Removed {count} retired key(s).")


@keys.command("list")
def keys_list() -> None:
    """List the published keys and their status."""
    box = _box()

    def run(session: Session) -> list[tuple[str, str, str]]:
        tool_keys.ensure_keys(session, box)
        return [
            (k.kid, k.status, k.created_at.isoformat(timespec="seconds"))
            for k in tool_keys.list_keys(session)
        ]

    for kid, status, created in _with_session(run):
        click.echo(f"{kid}  {status:<8} created {created}")


if __name__ == "__main__":
    main()
