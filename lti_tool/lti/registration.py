"""LTI Dynamic Registration (1EdTech LTI-DR 1.0): GET /lti/register.

The LMS opens this page (Canvas in an iframe, Moodle in a popup) with `openid_configuration`
and, usually, `registration_token`. We fetch the platform's OpenID configuration, check it
(LTI-DR §3.5: the configuration URL lies under the issuer, https in production, required
fields present), POST our client registration to its `registration_endpoint` with the token
as a bearer token, store the registration (issuer + client id) and its deployment, and answer
with a page that posts `{subject: "org.imsglobal.lti.close"}` to the LMS window (§4).

Every outbound call happens before the database is touched (no transaction is held across
HTTP) and everything is stored in one commit at the end, so a failure stores nothing.

Platform quirks handled here (from their public source):
- Moodle 3.10 and other early releases (`mod/lti/openid-configuration.php`) publish the
  platform configuration under a key with a trailing space, list `LtiResourceLink` instead
  of `LtiResourceLinkRequest`, and have no `authorization_endpoint` (`/mod/lti/auth.php`).
  Its registration answer has `application_type` as a list and the deployment id (the tool
  type id) in the tool configuration.
- Canvas needs the registration token as a bearer token on the configuration request too,
  rejects scopes it does not list (422), and answers without a deployment id: deployments
  are created when an admin installs the app, so the registration is flagged
  `auto_deployments` and the first signed launch of a new deployment id adds it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import Blueprint, render_template, request
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from schemas.platforms import PlatformSchema

from ..models import Deployment, Platform, utcnow
from ..platforms import PlatformError, add_platform
from ..requestscope import db, services
from ..settings import Settings
from ..upsert import upsert

log = logging.getLogger(__name__)
bp = Blueprint("lti_registration", __name__, url_prefix="/lti")

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
CANVAS_EXT = "https://canvas.instructure.com/lti/"
CLOSE_SUBJECT = "org.imsglobal.lti.close"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
TOOL_SCOPES = (SCOPE_LINEITEM, SCOPE_SCORE, SCOPE_RESULT, SCOPE_NRPS)

RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
# Claims we ask for: the learner key (iss, sub) plus what an awarded credential names.
TOOL_CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_PARAM_LENGTH = 4096
FAMILY_NAMES = {
    "moodle": "Moodle",
    "canvas": "Canvas",
    "desire2learn": "Brightspace",
    "blackboardlearn": "Blackboard Learn",
    "sakai": "Sakai",
    "schoology": "Schoology",
}


class RegistrationFailed(Exception):
    """Registration stopped. `public` is shown to the admin; `reason` goes to the log only."""

    def __init__(self, public: str, *, reason: str | None = None, status: int = 502) -> None:
        super().__init__(reason or public)
        self.public = public
        self.reason = reason or public
        self.status = status


@dataclass(frozen=True)
class PlatformConfiguration:
    """What we use of the platform's OpenID configuration (LTI-DR §3.6)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    product_family_code: str
    authorization_server: str | None = None
    scopes_supported: tuple[str, ...] | None = None
    # message type -> placements the platform lists for it (None: it lists none)
    messages_supported: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    variables: frozenset[str] | None = None
    version: str = ""
    account_name: str = ""

    @property
    def family(self) -> str:
        return self.product_family_code.lower()

    @property
    def display_name(self) -> str:
        family = FAMILY_NAMES.get(self.family, self.product_family_code or "LMS")
        label = self.account_name or urlsplit(self.issuer).netloc or self.issuer
        return f"{family} ({label})"[:255]


@dataclass(frozen=True)
class RegistrationResult:
    client_id: str
    deployment_id: str | None
    scope: str


@dataclass(frozen=True)
class Registered:
    platform_id: int
    name: str
    issuer: str
    client_id: str
    deployment_id: str | None
    created: bool


# -- the view ---------------------------------------------------------------------------


@bp.get("/register")
def register() -> Response:
    svc = services()
    config_url = _query_param("openid_configuration", required=True)
    token = _query_param("registration_token", required=False) or None
    registered = register_tool(svc.http, svc.settings, config_url, token, db)
    response = Response(
        render_template(
            "lti/registered.html",
            title="Microcred is registered",
            registered=registered,
            close_subject=CLOSE_SUBJECT,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(RegistrationFailed)
def _registration_failed(exc: RegistrationFailed) -> tuple[str, int, dict[str, str]]:
    log.warning("dynamic registration failed (%s): %s", exc.status, exc.reason)
    page = render_template("error.html", title="Registration failed", message=exc.public)
    return page, exc.status, {"Cache-Control": "no-store"}


def _query_param(name: str, *, required: bool) -> str:
    value = request.args.get(name, "")
    if not value:
        if required:
            raise RegistrationFailed(
                f"This address is the tool's dynamic registration URL: open it from your LMS's "
                f"tool registration page (the {name} parameter is missing).",
                status=400,
            )
        return ""
    if len(value) > MAX_PARAM_LENGTH:
        raise RegistrationFailed(f"The {name} parameter is too long.", status=400)
    return value


# -- the steps --------------------------------------------------------------------------


def register_tool(
    http: requests.Session,
    settings: Settings,
    config_url: str,
    token: str | None,
    session_factory: Callable[[], Session],
) -> Registered:
    """Fetch and check the configuration, register with the platform, store, commit."""
    config = fetch_platform_configuration(http, settings, config_url, token)
    registration = tool_registration(settings, config)
    result = post_registration(http, settings, config, registration, token)
    session: Session = session_factory()
    try:
        platform, created = store_registration(session, config, result)
    except PlatformError as exc:
        session.rollback()
        raise RegistrationFailed(
            "The LMS accepted the registration, but its answer could not be stored. "
            "Remove the pending registration in the LMS and try again.",
            reason=f"storing {config.issuer} client {result.client_id}: {exc}",
        ) from exc
    session.commit()
    services().registrations.clear()  # this process sees the new registration at once
    log.info(
        "dynamic registration %s: issuer=%s client_id=%s deployment_id=%s family=%s",
        "created" if created else "updated",
        config.issuer,
        result.client_id,
        result.deployment_id,
        config.product_family_code,
    )
    return Registered(
        platform_id=platform.id,
        name=platform.name,
        issuer=config.issuer,
        client_id=result.client_id,
        deployment_id=result.deployment_id,
        created=created,
    )


def fetch_platform_configuration(
    http: requests.Session, settings: Settings, config_url: str, token: str | None
) -> PlatformConfiguration:
    _check_url(settings, config_url, "openid_configuration", status=400)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"  # Canvas requires it here too
    status, body = _call(
        http, settings, "GET", config_url, token, headers=headers, what="OpenID configuration"
    )
    if status != 200:
        raise RegistrationFailed(
            f"The LMS's OpenID configuration could not be read (HTTP {status}). The "
            "registration link may have expired: start the registration again from the LMS.",
            reason=f"GET {_safe_url(config_url)} -> {status}: {_error_detail(body)}",
        )
    document = _json_object(body, "OpenID configuration")
    return parse_platform_configuration(settings, config_url, document)


def parse_platform_configuration(
    settings: Settings, config_url: str, document: Mapping[str, Any]
) -> PlatformConfiguration:
    def required_url(name: str) -> str:
        value = document.get(name)
        if not isinstance(value, str) or not value:
            raise _invalid_config(f"it has no {name}")
        return _check_url(settings, value, name)

    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise _invalid_config("it has no issuer")
    _check_url(settings, issuer, "issuer")
    if urlsplit(issuer).query or urlsplit(issuer).fragment:
        raise _invalid_config("its issuer has a query or fragment")
    if not _is_under(config_url, issuer):
        # LTI-DR §3.5.1: otherwise any site could claim to be any LMS's issuer.
        raise RegistrationFailed(
            "The LMS's configuration address does not belong to the issuer it names, so it "
            "cannot be trusted. Check the LMS's site URL (issuer) settings.",
            reason=f"openid_configuration {_safe_url(config_url)} is not under issuer {issuer}",
            status=400,
        )
    lti = _platform_section(document)
    family = lti.get("product_family_code")
    if not isinstance(family, str) or not family.strip():
        raise _invalid_config(f"{PLATFORM_CONFIGURATION} has no product_family_code")
    family = family.strip()
    if "messages_supported" not in lti:
        raise _invalid_config(f"{PLATFORM_CONFIGURATION} has no messages_supported")
    messages = _messages_supported(lti.get("messages_supported"))

    auth_endpoint = document.get("authorization_endpoint")
    if auth_endpoint is None and family.lower() == "moodle":
        # Early Moodle releases omit it; their OIDC endpoint has always been this one.
        auth_endpoint = issuer.rstrip("/") + "/mod/lti/auth.php"
    if not isinstance(auth_endpoint, str) or not auth_endpoint:
        raise _invalid_config("it has no authorization_endpoint")
    _check_url(settings, auth_endpoint, "authorization_endpoint")

    for name, wanted in (
        ("token_endpoint_auth_methods_supported", "private_key_jwt"),
        ("token_endpoint_auth_signing_alg_values_supported", "RS256"),
        ("id_token_signing_alg_values_supported", "RS256"),
    ):
        values = document.get(name)
        if isinstance(values, list) and values and wanted not in values:
            raise _invalid_config(f"{name} does not include {wanted}")

    scopes = document.get("scopes_supported")
    variables = lti.get("variables")
    auth_server = document.get("authorization_server")
    account_name = lti.get(CANVAS_EXT + "account_name")
    return PlatformConfiguration(
        issuer=issuer,
        authorization_endpoint=auth_endpoint,
        token_endpoint=required_url("token_endpoint"),
        jwks_uri=required_url("jwks_uri"),
        registration_endpoint=required_url("registration_endpoint"),
        product_family_code=family[:64],
        authorization_server=auth_server if isinstance(auth_server, str) and auth_server else None,
        scopes_supported=(
            tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else None
        ),
        messages_supported=messages,
        variables=(
            frozenset(v for v in variables if isinstance(v, str))
            if isinstance(variables, list)
            else None
        ),
        version=str(lti.get("version") or "")[:64],
        account_name=account_name[:200] if isinstance(account_name, str) else "",
    )


def tool_registration(settings: Settings, config: PlatformConfiguration) -> dict[str, Any]:
    """Our client registration (LTI-DR §3.1, OIDC Dynamic Client Registration), per family."""
    launch_url = settings.url("/lti/launch")
    icon = settings.url("/static/icon.svg")
    family = config.family
    resource_link: dict[str, Any] = {
        "type": RESOURCE_LINK,
        "target_link_uri": launch_url,
        "label": settings.tool_name,
        "icon_uri": icon,
    }
    deep_link: dict[str, Any] = {
        "type": DEEP_LINKING,
        "target_link_uri": launch_url,
        "label": settings.tool_name,
        "icon_uri": icon,
    }
    tool_config: dict[str, Any] = {
        "domain": urlsplit(settings.public_url).netloc,
        "target_link_uri": launch_url,
        "description": settings.tool_description,
        "claims": list(TOOL_CLAIMS),
    }
    if family == "canvas":
        resource_link["placements"] = [CANVAS_EXT + "course_navigation"]
        deep_link["placements"] = [
            CANVAS_EXT + "link_selection",
            CANVAS_EXT + "assignment_selection",
            CANVAS_EXT + "editor_button",
        ]
        tool_config[CANVAS_EXT + "privacy_level"] = "public"
        tool_config[CANVAS_EXT + "tool_id"] = "microcred"
    elif family == "moodle":
        # Moodle turns a deep-linking message into its "Content-Item" selection (activity
        # chooser); its configuration lists AddContentMenu as the placement for it.
        deep_link["placements"] = ["AddContentMenu"]
    custom = custom_parameters(family, config.variables)
    if custom:
        tool_config["custom_parameters"] = custom
    messages = [resource_link]
    if DEEP_LINKING in config.messages_supported:
        messages.append(deep_link)
    tool_config["messages"] = messages

    # Only scopes the platform offers: Canvas refuses the whole registration otherwise.
    supported = config.scopes_supported
    scopes = [s for s in TOOL_SCOPES if supported is None or s in supported]
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": settings.url("/lti/login"),
        "redirect_uris": [launch_url],
        "client_name": settings.tool_name,
        "jwks_uri": settings.url("/lti/jwks"),
        "logo_uri": icon,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: tool_config,
    }


def custom_parameters(family: str, variables: frozenset[str] | None) -> dict[str, str]:
    """Custom parameters per launch; HR identifiers use the keys provisioning reads."""
    wanted = {"person_id": "Person.sourcedId"}
    if family == "canvas":
        wanted.update(
            {
                "sis_id": "Canvas.user.sisIntegrationId",
                "canvas_course_id": "Canvas.course.id",
                "canvas_api_domain": "Canvas.api.domain",
            }
        )
    return {
        key: "$" + variable
        for key, variable in wanted.items()
        if variables is None or variable in variables
    }


def post_registration(
    http: requests.Session,
    settings: Settings,
    config: PlatformConfiguration,
    registration: Mapping[str, Any],
    token: str | None,
) -> RegistrationResult:
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, body = _call(
        http,
        settings,
        "POST",
        config.registration_endpoint,
        token,
        headers=headers,
        data=json.dumps(registration).encode(),
        what="registration endpoint",
    )
    if status not in (200, 201):
        detail = _error_detail(body)
        hint = (
            " The registration link may have expired or been used already: start again "
            "from the LMS."
            if status in (401, 403)
            else ""
        )
        raise RegistrationFailed(
            f"The LMS refused the registration (HTTP {status}"
            + (f": {detail}" if detail else "")
            + ")."
            + hint,
            reason=f"POST {_safe_url(config.registration_endpoint)} -> {status}: {detail}",
        )
    answer = _json_object(body, "registration answer")
    client_id = _identifier(answer.get("client_id"))
    if client_id is None:
        raise RegistrationFailed(
            "The LMS's answer to the registration has no usable client_id.",
            reason=f"registration answer without client_id: keys {sorted(answer)[:20]}",
        )
    tool_config = answer.get(TOOL_CONFIGURATION)
    deployment_id = (
        _identifier(tool_config.get("deployment_id")) if isinstance(tool_config, dict) else None
    )
    scope = answer.get("scope")
    return RegistrationResult(
        client_id=client_id,
        deployment_id=deployment_id,
        scope=scope if isinstance(scope, str) else "",
    )


def store_registration(
    session: Session, config: PlatformConfiguration, result: RegistrationResult
) -> tuple[Platform, bool]:
    """Create or update the registration (issuer, client_id) and add its deployment."""
    values: dict[str, Any] = {
        "issuer": config.issuer,
        "client_id": result.client_id,
        "auth_login_url": config.authorization_endpoint,
        "auth_token_url": config.token_endpoint,
        "key_set_url": config.jwks_uri,
        "name": config.display_name,
        "auth_audience": config.authorization_server,
    }
    if result.deployment_id:
        platform, created = add_platform(session, deployment_ids=[result.deployment_id], **values)
    else:
        platform, created = _add_registration_only(session, values)
    platform.product = {
        "product_family_code": config.product_family_code,
        "version": config.version,
        "registered_by": "dynamic_registration",
        "granted_scope": result.scope,
    }
    # Canvas (and any platform that creates deployments after registration) sends the
    # deployment id only with launches: accept new ones for this registration.
    platform.auto_deployments = True
    session.flush()
    return platform, created


def _add_registration_only(session: Session, values: Mapping[str, Any]) -> tuple[Platform, bool]:
    """Like `add_platform`, for a platform that has not created a deployment yet."""
    try:
        data = PlatformSchema(partial=("deployment_ids",)).load(dict(values))
    except ValidationError as exc:
        raise PlatformError(str(exc.normalized_messages())) from exc
    platform = session.scalars(
        select(Platform).where(
            Platform.issuer == data["issuer"], Platform.client_id == data["client_id"]
        )
    ).first()
    created = platform is None
    if platform is None:
        platform = Platform(issuer=data["issuer"], client_id=data["client_id"])
        session.add(platform)
    platform.name = data["name"] or platform.name or data["issuer"]
    platform.auth_login_url = data["auth_login_url"]
    platform.auth_token_url = data["auth_token_url"]
    platform.key_set_url = data["key_set_url"]
    platform.auth_audience = data["auth_audience"]
    session.flush()
    return platform, created


def add_auto_deployment(
    session: Session, platform: Platform, deployment_id: str
) -> Deployment | None:
    """On a verified launch: record a new deployment id of an `auto_deployments` platform.

    Never revives a deployment an admin deactivated; safe when two first launches race.
    """
    if not platform.auto_deployments or not 0 < len(deployment_id) <= 255:
        return None
    known = session.scalars(
        select(Deployment).where(
            Deployment.platform_id == platform.id, Deployment.deployment_id == deployment_id
        )
    ).first()
    if known is not None:
        return known if known.active else None
    row_id = upsert(
        session,
        Deployment,
        {
            "platform_id": platform.id,
            "deployment_id": deployment_id,
            "active": True,
            "created_at": utcnow(),
        },
        conflict=("platform_id", "deployment_id"),
        update=(),
    )
    row = session.get(Deployment, row_id)
    if row is None or not row.active:
        return None
    log.info(
        "new deployment %r recorded for %s (client id %s)",
        deployment_id,
        platform.issuer,
        platform.client_id,
    )
    return row


# -- helpers ----------------------------------------------------------------------------


def _call(
    http: requests.Session,
    settings: Settings,
    method: str,
    url: str,
    token: str | None,
    *,
    what: str,
    **kwargs: Any,
) -> tuple[int, bytes]:
    """One outbound call: no redirects (they could point anywhere), bounded size and time."""
    try:
        with http.request(
            method,
            url,
            timeout=settings.http_timeout,
            allow_redirects=False,
            stream=True,
            **kwargs,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_DOCUMENT_BYTES:
                    raise RegistrationFailed(
                        f"The LMS's {what} answered with a document that is too large.",
                        reason=f"{method} {_safe_url(url)}: more than {MAX_DOCUMENT_BYTES} bytes",
                    )
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)
    except requests.RequestException as exc:
        detail = f"{type(exc).__name__}: {exc}"
        if token:
            detail = detail.replace(token, "[registration_token]")
        raise RegistrationFailed(
            f"The LMS's {what} could not be reached from the tool's server. Check that the "
            "LMS is reachable from it and try again.",
            reason=f"{method} {_safe_url(url)}: {detail}",
        ) from exc


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistrationFailed(
            f"The LMS's {what} is not valid JSON.", reason=f"{what}: {exc}"
        ) from exc
    if not isinstance(document, dict):
        raise RegistrationFailed(
            f"The LMS's {what} is not a JSON object.", reason=f"{what}: {type(document)}"
        )
    return document


def _platform_section(document: Mapping[str, Any]) -> Mapping[str, Any]:
    section = document.get(PLATFORM_CONFIGURATION)
    if section is None:  # early Moodle releases: the key has a trailing space
        section = next(
            (v for k, v in document.items() if k.strip() == PLATFORM_CONFIGURATION), None
        )
    if not isinstance(section, dict):
        raise _invalid_config(f"it has no {PLATFORM_CONFIGURATION} object")
    return section


def _messages_supported(value: Any) -> dict[str, tuple[str, ...] | None]:
    """Strings (Moodle) or {type, placements} objects (Canvas, the spec) -> type: placements."""
    if not isinstance(value, list):
        raise _invalid_config("messages_supported is not a list")
    messages: dict[str, tuple[str, ...] | None] = {}
    for item in value:
        placements: tuple[str, ...] | None = None
        if isinstance(item, dict):
            kind = item.get("type")
            raw = item.get("placements")
            if isinstance(raw, list):
                placements = tuple(p for p in raw if isinstance(p, str))
        else:
            kind = item
        if not isinstance(kind, str):
            continue
        if kind == "LtiResourceLink":  # early Moodle releases
            kind = RESOURCE_LINK
        messages[kind] = placements
    return messages


def _invalid_config(problem: str) -> RegistrationFailed:
    return RegistrationFailed(
        f"The LMS's OpenID configuration is not usable for LTI registration: {problem}.",
        reason=f"invalid platform configuration: {problem}",
    )


def _check_url(settings: Settings, value: str, name: str, *, status: int = 502) -> str:
    parts = urlsplit(value)
    schemes = ("https",) if settings.is_production else ("https", "http")
    if parts.scheme not in schemes or not parts.netloc or parts.fragment:
        need = "an https URL" if settings.is_production else "an http(s) URL"
        raise RegistrationFailed(
            f"The LMS's {name} must be {need}.",
            reason=f"{name} {_safe_url(value)!r} is not {need}",
            status=status,
        )
    return value


def _is_under(url: str, issuer: str) -> bool:
    """`url` starts with `issuer` on a path boundary, same scheme and host (§3.5.1)."""
    u, i = urlsplit(url), urlsplit(issuer)
    if (u.scheme.lower(), u.netloc.lower()) != (i.scheme.lower(), i.netloc.lower()):
        return False
    base = i.path.rstrip("/")
    return u.path == base or u.path.startswith(base + "/")


def _safe_url(url: str) -> str:
    """The URL without its query (which may carry a registration token)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _identifier(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and 0 < len(value.strip()) <= 255:
        return value.strip()
    return None


def _error_detail(body: bytes) -> str:
    """A short, printable summary of a platform's error answer (OIDC, Canvas or text)."""
    text = ""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict):
        parts = [str(document[k]) for k in ("error", "error_description") if document.get(k)]
        errors = document.get("errors")
        if isinstance(errors, list):
            parts.extend(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            )
        elif isinstance(errors, dict):
            parts.extend(f"{k}: {v}" for k, v in errors.items())
        text = "; ".join(parts)
    elif document is None:
        text = body[:500].decode("utf-8", "replace")
        if text.lstrip().startswith("<"):
            text = ""  # an HTML error page says nothing useful in one line
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text[:300]
