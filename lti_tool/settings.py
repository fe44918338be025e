"""Typed settings: `config/default.toml`, then `MICROCRED_*` environment variables.

Wrong settings raise `SettingsError` with a message that says which variable and why, so
start-up stops before anything is served.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ENV_PREFIX = "MICROCRED_"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = REPO_ROOT / "config"


class SettingsError(Exception):
    """A setting is missing or wrong; the message is meant for the operator."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = ""
    instance_path: Path = Path("instance")
    public_url: str = "http://localhost:8000"
    secret_key: str = field(default="", repr=False)
    previous_secret_keys: tuple[str, ...] = field(default=(), repr=False)
    tool_name: str = "Microcred"
    tool_description: str = ""
    proxy_fix_hops: int = 0
    login_state_ttl: int = 600
    tool_session_ttl: int = 28800
    platform_jwks_ttl: int = 3600
    platform_jwks_refetch_interval: int = 10
    clock_skew: int = 60
    max_id_token_bytes: int = 65536
    http_timeout: float = 10.0
    log_level: str = "INFO"
    # Sync (lti_tool/sync): which runner delivers award events, and how it paces itself.
    sync_runner: str = "embedded"  # embedded | celery | none
    sync_threads: int = 2
    sync_batch: int = 50  # deliveries a worker thread claims per step
    sync_poll_interval: float = 1.0
    sync_lease_seconds: float = 120.0
    sync_delay_scale: float = 1.0
    sync_disable_after: float = 432000.0  # a connection failing this long (s) is disabled
    sync_broker_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    sync_celery_queue: str = "microcred-sync"
    sync_celery_backlog: int = 16  # messages the sweeper keeps waiting on the queue, at most
    # Gradebook job (AGS rules, score post-back): seconds between periodic runs.
    rules_interval_seconds: float = 300.0
    # `microcred worker`: seconds between housekeeping runs (purge expired rows, expire awards).
    housekeeping_interval_seconds: float = 60.0
    # REST API (lti_tool/api): access token lifetime (s), per-client rate limit, limiter store
    # (memory:// embedded; a redis:// URL when several processes serve), largest JSON body.
    api_token_lifetime: int = 3600
    api_rate_limit: str = "1200/minute"
    rate_limit_storage_url: str = field(default="memory://", repr=False)
    api_max_body_bytes: int = 262144
    # Open Badges 3.0 API (lti_tool/obapi): token lifetimes (s), the learner's first-party
    # sign-in lifetime (s), the links of the service description, and whether clients may
    # write credentials (upsertCredential): "disabled" | "enabled".
    obapi_access_token_ttl: int = 3600
    obapi_refresh_token_ttl: int = 2592000
    obapi_signin_ttl: int = 1800
    obapi_privacy_policy_url: str = ""
    obapi_terms_of_service_url: str = ""
    obapi_upsert: str = "disabled"
    # CLR 2.0 for pathways: the official CLR 2.0 JSON-LD context (a file the operator provides;
    # not bundled) and the URL it is published at. Empty file: no CLR is issued.
    clr_context_file: str = ""
    clr_context_url: str = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
    # POST /verify of other issuers' credentials: did:web hosts (and their status lists) we
    # may fetch, comma-separated `host` or `host:port`; timeout (s) and size limit (bytes) per
    # fetch. Our own host is always resolved locally. Plain-http did:web: loopback tests only.
    verify_did_web_allowlist: str = ""
    verify_http_timeout: float = 5.0
    verify_max_bytes: int = 131072
    allow_insecure_did_web_for_tests: bool = False
    # LinkedIn "Share on LinkedIn" (lti_tool/linkedin): the app's OAuth client (empty: the
    # share button is hidden), LinkedIn's hosts (tests point them at a local server), the
    # Posts API version header (YYYYMM), and PKCE (LinkedIn enables it per app).
    linkedin_client_id: str = ""
    linkedin_client_secret: str = field(default="", repr=False)
    linkedin_auth_url: str = "https://www.linkedin.com"
    linkedin_api_url: str = "https://api.linkedin.com"
    linkedin_version: str = "202510"
    linkedin_pkce: bool = False

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def url(self, path: str) -> str:
        """Absolute public URL for an application path such as `/lti/launch`."""
        return self.public_url.rstrip("/") + path


SYNC_RUNNERS = ("embedded", "celery", "none")


def verify_allowlist(settings: Settings) -> tuple[str, ...]:
    """`verify_did_web_allowlist` as lower-case `host` / `host:port` entries."""
    hosts = []
    for item in settings.verify_did_web_allowlist.split(","):
        host = item.strip().lower()
        if not host:
            continue
        if "/" in host or "@" in host or " " in host or host.endswith(":"):
            raise ValueError(f"{item.strip()!r} is not a host or host:port")
        hosts.append(host)
    return tuple(hosts)


_SECRET_FIELDS = {"secret_key", "previous_secret_keys", "linkedin_client_secret"}


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_dir: Path | None = None,
    **overrides: object,
) -> Settings:
    """Build settings from the TOML defaults, the environment, then explicit overrides."""
    environ = os.environ if environ is None else environ
    config_dir = Path(environ.get(ENV_PREFIX + "CONFIG_DIR", config_dir or DEFAULT_CONFIG_DIR))
    raw: dict[str, object] = {}
    default_file = config_dir / "default.toml"
    if default_file.exists():
        raw.update(_read_toml(default_file))
    raw.update(_from_environ(environ))
    raw.update(overrides)
    return _finish(_coerce(raw))


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            return dict(tomllib.load(fh))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from exc


def _from_environ(environ: Mapping[str, str]) -> dict[str, object]:
    names = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, object] = {}
    for name in names:
        key = ENV_PREFIX + name.upper()
        if key in environ:
            values[name] = environ[key]
        elif name in _SECRET_FIELDS and key + "_FILE" in environ:
            path = Path(environ[key + "_FILE"])
            try:
                values[name] = path.read_text().strip()
            except OSError as exc:
                raise SettingsError(f"{key}_FILE: cannot read {path}: {exc.strerror}") from exc
    return values


def _coerce(raw: dict[str, object]) -> Settings:
    kwargs: dict[str, object] = {}
    for f in dataclasses.fields(Settings):
        if f.name not in raw:
            continue
        value = raw[f.name]
        env_name = ENV_PREFIX + f.name.upper()
        try:
            if f.name == "instance_path":
                kwargs[f.name] = Path(str(value))
            elif f.name == "previous_secret_keys":
                items = value if isinstance(value, list | tuple) else str(value).split(",")
                kwargs[f.name] = tuple(str(v).strip() for v in items if str(v).strip())
            elif f.type in ("int", int):
                kwargs[f.name] = int(str(value))
            elif f.type in ("float", float):
                kwargs[f.name] = float(str(value))
            elif f.type in ("bool", bool):
                kwargs[f.name] = _boolean(value)
            else:
                kwargs[f.name] = str(value)
        except ValueError as exc:
            raise SettingsError(f"{env_name}: {value!r} is not a valid {f.type}") from exc
    return Settings(**kwargs)  # type: ignore[arg-type]


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


def _finish(settings: Settings) -> Settings:
    if settings.env not in ("development", "production"):
        raise SettingsError(
            f"MICROCRED_ENV: {settings.env!r} is not one of 'development', 'production'"
        )
    parts = urlsplit(settings.public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(
            f"MICROCRED_PUBLIC_URL: {settings.public_url!r} must be an absolute http(s) URL "
            "without query or fragment, e.g. https://microcred.example.edu"
        )
    if settings.is_production and parts.scheme != "https":
        raise SettingsError("MICROCRED_PUBLIC_URL must use https when MICROCRED_ENV=production")
    for name in ("login_state_ttl", "tool_session_ttl", "max_id_token_bytes"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"MICROCRED_{name.upper()} must be a positive number")
    if settings.proxy_fix_hops < 0:
        raise SettingsError("MICROCRED_PROXY_FIX_HOPS must be 0 or more")

    if settings.sync_runner not in SYNC_RUNNERS:
        raise SettingsError(
            f"MICROCRED_SYNC_RUNNER: {settings.sync_runner!r} is not one of "
            + ", ".join(repr(r) for r in SYNC_RUNNERS)
        )
    if settings.sync_batch < 1 or settings.sync_celery_backlog < 1:
        raise SettingsError("MICROCRED_SYNC_BATCH and MICROCRED_SYNC_CELERY_BACKLOG must be >= 1")
    if settings.sync_threads < 1 or settings.sync_poll_interval <= 0:
        raise SettingsError("MICROCRED_SYNC_THREADS and MICROCRED_SYNC_POLL_INTERVAL must be > 0")
    if settings.rules_interval_seconds <= 0:
        raise SettingsError("MICROCRED_RULES_INTERVAL_SECONDS must be > 0")
    if settings.housekeeping_interval_seconds <= 0:
        raise SettingsError("MICROCRED_HOUSEKEEPING_INTERVAL_SECONDS must be > 0")
    if settings.sync_lease_seconds <= 0 or settings.sync_delay_scale < 0:
        raise SettingsError(
            "MICROCRED_SYNC_LEASE_SECONDS must be > 0 and MICROCRED_SYNC_DELAY_SCALE >= 0"
        )

    if settings.obapi_upsert not in ("disabled", "enabled"):
        raise SettingsError("MICROCRED_OBAPI_UPSERT must be 'disabled' or 'enabled'")
    if min(settings.obapi_access_token_ttl, settings.obapi_signin_ttl) <= 0:
        raise SettingsError("MICROCRED_OBAPI_ACCESS_TOKEN_TTL and _SIGNIN_TTL must be > 0")
    if settings.allow_insecure_did_web_for_tests and settings.is_production:
        raise SettingsError(
            "MICROCRED_ALLOW_INSECURE_DID_WEB_FOR_TESTS must not be set in production"
        )
    if settings.verify_http_timeout <= 0 or settings.verify_max_bytes <= 0:
        raise SettingsError("MICROCRED_VERIFY_HTTP_TIMEOUT and _MAX_BYTES must be > 0")
    try:
        verify_allowlist(settings)
    except ValueError as exc:
        raise SettingsError(f"MICROCRED_VERIFY_DID_WEB_ALLOWLIST: {exc}") from exc

    changes: dict[str, object] = {"public_url": settings.public_url.rstrip("/")}
    database_url = settings.database_url
    if not database_url:
        if settings.is_production:
            raise SettingsError("MICROCRED_DATABASE_URL is required when MICROCRED_ENV=production")
        database_url = f"sqlite:///{(settings.instance_path / 'microcred.db').resolve()}"
    elif database_url.startswith(("postgresql://", "postgres://")):
        # Use the psycopg 3 driver we depend on, whatever form the operator wrote.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    changes["database_url"] = database_url

    if not settings.secret_key:
        if settings.is_production:
            raise SettingsError(
                "MICROCRED_SECRET_KEY (or MICROCRED_SECRET_KEY_FILE) is required when "
                "MICROCRED_ENV=production"
            )
        changes["secret_key"] = _embedded_secret_key(settings.instance_path)
    elif len(settings.secret_key) < 32:
        raise SettingsError("MICROCRED_SECRET_KEY must be at least 32 characters long")
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


def _embedded_secret_key(instance_path: Path) -> str:
    """Generate the secret key on first run of the embedded default and keep it (mode 0600)."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key
