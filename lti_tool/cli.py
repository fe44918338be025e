"""`microcred` command line: serve, db upgrade, platforms, keys."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

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
@click.option(
    "--worker/--no-worker",
    "with_worker",
    default=True,
    show_default=True,
    help="Also run one `microcred worker` process (deliveries, gradebook rules, expiry); "
    "turn off when workers run separately.",
)
def serve(
    host: str, port: int, workers: int, threads: int, access_log: bool, with_worker: bool
) -> None:
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

    from .server import run_gunicorn, start_worker_process, stop_worker_process

    background = start_worker_process() if with_worker else None
    try:
        run_gunicorn(
            settings, host=host, port=port, workers=workers, threads=threads, access_log=access_log
        )
    finally:
        if background is not None:
            stop_worker_process(background)


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


# -- demo -------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the tool listens.")
@click.option("--port", default=8000, show_default=True, type=int, help="The tool's port.")
@click.option("--lms-port", default=8001, show_default=True, type=int, help="The demo LMS's port.")
@click.option(
    "--database-url",
    default=None,
    help="A SQLite URL for the demo's data (default: sqlite:///<instance>/demo.sqlite3).",
)
def demo(host: str, port: int, lms_port: int, database_url: str | None) -> None:
    """Try the tool in a pretend LMS course (never in production, never on PostgreSQL)."""
    import os
    import threading

    from .testplatform.demo import DemoRefused, start_demo

    try:
        running = start_demo(
            os.environ, host=host, port=port, lms_port=lms_port, database_url=database_url
        )
    except DemoRefused as exc:
        _fail(f"demo refused: {exc}")
    except SettingsError as exc:
        _fail(f"configuration error: {exc}")
    except OSError as exc:
        _fail(f"cannot listen ({exc}): pick other ports with --port / --lms-port")
    click.echo("Microcred DEMO: a pretend LMS course with an instructor and four learners.")
    click.echo(f"  Open {running.url} in your browser.")
    click.echo(f"  Tool: {running.settings.public_url}  data: {running.settings.database_url}")
    click.echo("  Stop with Ctrl+C.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("Stopping the demo.")
    finally:
        running.stop()


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


@platforms.command("linkedin-org")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.argument("organization_id", required=False, default="")
def platforms_linkedin_org(issuer: str, client_id: str, organization_id: str) -> None:
    """Set the tenant's LinkedIn organization id for Add to Profile (no id: clear it)."""
    from .linkedin.accounts import set_tenant_organization_id

    def run(session: Session) -> str:
        try:
            return set_tenant_organization_id(
                session, issuer=issuer, client_id=client_id, value=organization_id
            )
        except ValueError as exc:
            _fail(str(exc))

    click.echo(_with_session(run))


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


# -- sync: worker, delivery status and replay, connections ------------------------------


def _sync_database(wait: float = 0.0) -> tuple[Settings, Database]:
    """The settings and the database, after checking its schema is current. With ``wait``,
    an unreachable database (starting, restarting) is retried for up to that many seconds
    before giving up, so a worker started beside its database waits for it."""
    import time

    from sqlalchemy.exc import OperationalError

    settings = _settings()
    database = _database(settings)
    deadline = time.monotonic() + wait
    delay = 0.1
    while True:
        try:
            pending = _pending(database)
            break
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                _fail(f"the database is not reachable: {reason}")
            click.echo("microcred: the database is not reachable yet; retrying", err=True)
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 2.0)
    if pending:
        _fail("the database schema is not current: run `microcred db upgrade` first")
    return settings, database


@main.command()
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1, 64),
    help="Delivery threads (default: MICROCRED_SYNC_THREADS).",
)
@click.option(
    "--wait-for-database",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to keep retrying a database that is not reachable at start.",
)
def worker(threads: int | None, wait_for_database: float) -> None:
    """Run the background work until stopped (SIGTERM/SIGINT: finish, then exit).

    Deliveries to connections (with MICROCRED_SYNC_RUNNER=celery only the sweeper that queues
    them: run `celery -A lti_tool.sync.celery_app worker` for the deliveries), gradebook rules
    and score post-back, housekeeping and award expiry. `microcred serve` starts one.
    """
    import logging
    import signal
    import threading

    from .background import Background

    settings, database = _sync_database(wait=wait_for_database)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stopping = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    background = Background(settings, database, threads=threads)
    parts = background.start()
    click.echo("Worker running (SIGTERM stops it): " + "; ".join(parts) + ".")
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        background.stop()
    click.echo("Worker stopped.")


@main.group()
def sync() -> None:
    """Deliveries of award events to connections."""


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def sync_status(as_json: bool) -> None:
    """Deliveries per state, per connection."""
    from .models import Connection
    from .sync.engine import status_counts

    _, database = _sync_database()
    with database.read_session() as session:
        counts = status_counts(session)
        rows: list[dict[str, Any]] = [
            {
                "connection_id": c.id,
                "name": c.name,
                "connector": c.connector,
                "state": c.state,
                "reason": c.pause_reason or c.disabled_reason,
                "deliveries": counts.get(c.id, {}),
            }
            for c in session.scalars(select(Connection).order_by(Connection.id))
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No connections. Add one with `microcred connections add`.")
    for row in rows:
        states = ", ".join(f"{k}={v}" for k, v in sorted(row["deliveries"].items())) or "none"
        click.echo(
            f"{row['connection_id']:>4}  {row['name']:<24} {row['connector']:<10} "
            f"{row['state']:<8} {states}"
        )
        if row["reason"]:
            click.echo(f"      {row['reason']}")


@sync.command("replay")
@click.option("--dead", is_flag=True, required=True, help="Replay dead-lettered deliveries.")
@click.option("--connection", "connection_id", type=int, default=None, help="Only this one.")
def sync_replay(dead: bool, connection_id: int | None) -> None:
    """Put dead deliveries back in the queue (their attempt log is kept)."""
    from .sync.engine import replay

    _, database = _sync_database()
    with database.session() as session:
        count = replay(session, connection_id=connection_id)
    click.echo(f"Replaying {count} dead delivery(ies).")


@main.group()
def connections() -> None:
    """Connections: a tenant's configured use of a connector (webhook, xapi, ...)."""


def _parse_pairs(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            _fail(f"{what} {pair.split('=')[0]!r}: use NAME=VALUE")
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    return values


@connections.command("add")
@click.option("--platform-id", required=True, type=int, help="The tenant (platforms list).")
@click.option("--connector", required=True, help="Connector key, e.g. webhook or xapi.")
@click.option("--name", required=True, help="A name unique within the tenant.")
@click.option(
    "--setting", "setting_pairs", multiple=True, help="NAME=VALUE (JSON or text); repeat."
)
@click.option(
    "--secrets-json",
    envvar="MICROCRED_CONNECTION_SECRETS",
    default=None,
    help="Secret settings as a JSON object (better: env MICROCRED_CONNECTION_SECRETS).",
)
@click.option(
    "--identity-mapping",
    default="lti_sub",
    show_default=True,
    help="email | lti_sub | hr_id:<key> | table",
)
@click.option("--rate-limit", type=click.IntRange(1), default=None, help="Requests per minute.")
def connections_add(
    platform_id: int,
    connector: str,
    name: str,
    setting_pairs: tuple[str, ...],
    secrets_json: str | None,
    identity_mapping: str,
    rate_limit: int | None,
) -> None:
    """Add a connection (settings validated by the connector; secrets stored encrypted)."""
    from connectors.registry import RegistryError
    from connectors.settings import SettingsError as ConnectorSettingsError

    from .sync.connections import ConnectionConfigError, add_connection

    settings, database = _sync_database()
    try:
        secrets = json.loads(secrets_json) if secrets_json else {}
    except ValueError:
        _fail("the secrets are not a JSON object (their text is not shown)")
    if not isinstance(secrets, dict):
        _fail("the secrets must be a JSON object")
    box = SecretBox(settings.secret_key, settings.previous_secret_keys)
    try:
        with database.session() as session:
            created = add_connection(
                session,
                box,
                platform_id=platform_id,
                connector=connector,
                name=name,
                settings=_parse_pairs(setting_pairs, "--setting"),
                secrets=secrets,
                identity_mapping=identity_mapping,
                rate_limit_per_minute=rate_limit,
            )
            new_id = created.id
    except (ConnectionConfigError, ConnectorSettingsError, RegistryError) as exc:
        _fail(str(exc))
    click.echo(f"Added connection {new_id}: {name} ({connector}) for platform {platform_id}")


@connections.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def connections_list(as_json: bool) -> None:
    """List connections (secrets are never shown)."""
    from .models import Connection

    _, database = _sync_database()
    with database.read_session() as session:
        rows = [
            {
                "id": c.id,
                "platform_id": c.platform_id,
                "connector": c.connector,
                "name": c.name,
                "settings": c.settings,
                "has_secrets": c.secrets_encrypted is not None,
                "identity_mapping": c.identity_mapping,
                "rate_limit_per_minute": c.rate_limit_per_minute,
                "state": c.state,
                "reason": c.pause_reason or c.disabled_reason,
            }
            for c in session.scalars(select(Connection).order_by(Connection.id))
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['id']:>4}  platform={row['platform_id']}  {row['name']:<24} "
            f"{row['connector']:<10} {row['state']:<8} mapping={row['identity_mapping']}"
        )
        if row["reason"]:
            click.echo(f"      {row['reason']}")


def _connection_op(connection_id: int, fn: Callable[[Session, Any], str]) -> None:
    from .models import Connection

    _, database = _sync_database()
    with database.session() as session:
        found = session.get(Connection, connection_id)
        if found is None:
            _fail(f"no connection {connection_id}")
        click.echo(fn(session, found))


@connections.command("pause")
@click.argument("connection_id", type=int)
@click.option("--reason", default="paused by an administrator", show_default=True)
def connections_pause(connection_id: int, reason: str) -> None:
    """Stop delivering to a connection (deliveries queue up)."""
    from .sync.connections import pause

    def run(_session: Session, found: Any) -> str:
        pause(found, reason)
        return f"Paused connection {found.id}."

    _connection_op(connection_id, run)


@connections.command("resume")
@click.argument("connection_id", type=int)
def connections_resume(connection_id: int) -> None:
    """Resume a paused or automatically disabled connection; waiting deliveries go now."""
    from .sync.engine import resume

    def run(session: Session, found: Any) -> str:
        resume(session, found)
        return f"Resumed connection {found.id}."

    _connection_op(connection_id, run)


@connections.command("test")
@click.argument("connection_id", type=int)
def connections_test(connection_id: int) -> None:
    """Check reachability and credentials (the connector's check(); nothing is stored)."""
    import requests

    from connectors.registry import RegistryError
    from connectors.settings import SettingsError as ConnectorSettingsError

    from .models import Connection
    from .sync.connections import check_connection

    settings, database = _sync_database()
    with database.read_session() as session:
        found = session.get(Connection, connection_id)
        if found is None:
            _fail(f"no connection {connection_id}")
        session.expunge(found)
    box = SecretBox(settings.secret_key, settings.previous_secret_keys)
    with requests.Session() as http:
        try:
            result = check_connection(found, box, http)
        except (RegistryError, ConnectorSettingsError) as exc:
            _fail(str(exc))
    status = f" (HTTP {result.status_code})" if result.status_code else ""
    click.echo(f"{result.outcome}{status}: {result.detail or 'ok'}")
    if not result.ok:
        sys.exit(1)


# -- Open Badges issuer keys ------------------------------------------------------------


def _issuance_config() -> Any:
    from .credentials.issuance import IssuanceConfig

    settings = _settings()
    return IssuanceConfig(
        public_url=settings.public_url,
        box=SecretBox(settings.secret_key, settings.previous_secret_keys),
        tool_name=settings.tool_name,
    )


def _install_credential_issuer() -> None:
    """CLI start-up: every award a command makes gets its signed OB 3.0 credential. Settings are
    read on the first award event; an issuer installed by an app in this process is kept."""
    from .credentials import issuance

    if issuance.installed() is None:
        issuance.install(issuance.CredentialIssuer(_issuance_config))


_main_callback = main.callback


def _main_with_credential_issuer(*args: Any, **kwargs: Any) -> Any:
    _install_credential_issuer()
    return _main_callback(*args, **kwargs) if _main_callback is not None else None


main.callback = _main_with_credential_issuer


@keys.command("rotate-issuer")
def keys_rotate_issuer() -> None:
    """New Ed25519 issuer key for OB 3.0 credentials; old keys stay in the DID document."""
    from .credentials import issuerkeys

    config = _issuance_config()

    def run(session: Session) -> tuple[str, int]:
        row = issuerkeys.rotate(session, config.box, config.identity)
        return row.public_key_multibase, len(issuerkeys.published_keys(session, config.identity))

    multibase, count = _with_session(run)
    click.echo(
        f"Issuer {config.identity} now signs with {multibase}; "
        f"{count} key(s) published under assertionMethod."
    )


@connections.command("import-mapping")
@click.argument("connection_id", type=int)
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
def connections_import_mapping(connection_id: int, csv_file: Any) -> None:
    """Load learner ids for a connection in mapping mode `table` from a CSV file with the
    columns `sub` (the learner's LTI sub) and `external_id` (their id in the target)."""
    import csv

    from .sync.connections import ConnectionConfigError, import_identity_mapping

    reader = csv.DictReader(csv_file)
    if not reader.fieldnames or not {"sub", "external_id"} <= set(reader.fieldnames):
        _fail("the CSV file needs a header line with the columns sub,external_id")

    def run(session: Session, found: Any) -> str:
        try:
            count = import_identity_mapping(session, found, reader)
        except ConnectionConfigError as exc:
            _fail(str(exc))
        return f"Imported {count} identity mapping(s) for connection {found.id}."

    _connection_op(connection_id, run)


# -- Open Badges credentials ------------------------------------------------------------


@main.group("credentials")
def credentials_group() -> None:
    """Signed Open Badges 3.0 credentials of awards."""


@credentials_group.command("backfill")
@click.option(
    "--batch",
    default=200,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Awards per transaction.",
)
def credentials_backfill(batch: int) -> None:
    """Issue the credential of every active award that has none (awarded before issuance
    existed, or while it failed). Safe to re-run; each batch commits on its own."""
    from .credentials import issuance

    issuer = issuance.CredentialIssuer(_issuance_config())
    _, database = _sync_database()
    after_id, total = 0, 0
    try:
        while True:
            with database.session() as session:
                issued = issuance.backfill_batch(session, issuer, batch=batch, after_id=after_id)
                if not issued:
                    break
                after_id = max(row.award_id for row in issued)
            total += len(issued)
            click.echo(f"Issued {len(issued)} credential(s) (up to award {after_id}).")
    finally:
        database.dispose()
    click.echo(f"Backfill done: {total} credential(s) issued.")


# -- REST API clients -------------------------------------------------------------------


@main.group("api-clients")
def api_clients() -> None:
    """OAuth 2.0 clients of the REST API (/api/v1), one tenant each."""


@api_clients.command("add")
@click.option("--platform-id", required=True, type=int, help="The tenant (platforms list).")
@click.option("--name", required=True, help="Who uses it, e.g. 'Workday sync'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="A scope, e.g. awards:read (repeat; see docs/api.md).",
)
def api_clients_add(platform_id: int, name: str, scopes: tuple[str, ...]) -> None:
    """Register a client; prints its secret once (only a hash of it is stored)."""
    from .api.clients import ApiClientError, add_client

    def run(session: Session) -> tuple[str, str]:
        client, secret = add_client(
            session, platform_id=platform_id, name=name, scopes=scopes, created_by="cli"
        )
        return client.client_id, secret

    try:
        client_id, secret = _with_session(run)
    except ApiClientError as exc:
        _fail(str(exc))
    click.echo(f"client_id:     {client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("Store the secret now: it cannot be shown again.")


@api_clients.command("list")
@click.option("--platform-id", type=int, default=None, help="Only this tenant's clients.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def api_clients_list(platform_id: int | None, as_json: bool) -> None:
    """List clients (never their secrets)."""
    from .api.clients import list_clients

    rows = _with_session(
        lambda s: [
            {
                "client_id": c.client_id,
                "platform_id": c.platform_id,
                "name": c.name,
                "scopes": c.scopes,
                "created_at": c.created_at.isoformat(),
                "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
            }
            for c in list_clients(s, platform_id=platform_id)
        ]
    )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No API clients. Add one with `microcred api-clients add`.")
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        click.echo(
            f"{row['client_id']}  platform={row['platform_id']}  {state:<7}  {row['name']}  "
            f"scopes={' '.join(row['scopes'])}"
        )


@api_clients.command("revoke")
@click.argument("client_id")
def api_clients_revoke(client_id: str) -> None:
    """Revoke a client and every token it holds."""
    from .api.clients import ApiClientError, find_client, revoke_client

    try:
        _with_session(lambda s: revoke_client(s, find_client(s, client_id)))
    except ApiClientError as exc:
        _fail(str(exc))
    click.echo(f"Revoked {client_id}: its tokens stop working now.")


if __name__ == "__main__":
    main()
