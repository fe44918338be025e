"""OIDC third-party initiated login (LTI 1.3 Core §5.1.1; 1EdTech Security Framework §5.1).

The state and nonce are stored server-side in one row, bound to a random browser value
held in a Partitioned cookie and, when the platform offers it, in LTI Platform Storage.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from pylti1p3.contrib.flask import FlaskOIDCLogin, FlaskRequest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from ..models import LoginState, utcnow
from ..settings import Settings
from .cookies import PartitionedCookieService
from .errors import LaunchRefused
from .tool_config import DatabaseToolConf, PlatformRegistration

LOGIN_PARAMS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "lti_deployment_id",
    "client_id",
    "lti_storage_target",
)
MAX_PARAM_LENGTH = 4096
_INSERT_STATE = insert(LoginState.__table__)  # type: ignore[arg-type]  # Core, not ORM bulk


def binding_cookie_name(state: str) -> str:
    return f"state-{state}"


def is_our_url(settings: Settings, url: str) -> bool:
    """True when `url` points into this tool (same origin, under the public path)."""
    ours, theirs = urlsplit(settings.public_url), urlsplit(url)
    if (theirs.scheme, theirs.netloc.lower()) != (ours.scheme, ours.netloc.lower()):
        return False
    base = ours.path.rstrip("/")
    return theirs.path == base or theirs.path.startswith(base + "/")


@dataclass(frozen=True)
class LoginStart:
    auth_url: str
    state: str
    browser_binding: str
    storage_target: str | None
    platform_origin: str


class MicrocredOIDCLogin(FlaskOIDCLogin):
    def __init__(
        self,
        request: FlaskRequest,
        tool_conf: DatabaseToolConf,
        cookies: PartitionedCookieService,
        *,
        session: Session,
        settings: Settings,
    ) -> None:
        super().__init__(request, tool_conf, cookie_service=cookies)
        self._db = session
        self._settings = settings

    def start(self) -> LoginStart:
        params = self._params()
        registration = self.validate_oidc_login()
        assert isinstance(registration, PlatformRegistration)
        target = params.get("target_link_uri")
        if not target:
            raise LaunchRefused("The login request has no target_link_uri.")
        if not is_our_url(self._settings, target):
            raise LaunchRefused(
                "The login request asks to launch a URL that is not this tool.",
                reason=f"target_link_uri {target!r} is outside {self._settings.public_url}",
            )
        state, nonce, binding = (secrets.token_urlsafe(32) for _ in range(3))
        storage_target = params.get("lti_storage_target") or None
        now = utcnow()
        # A Core INSERT: the row is never read back in this request, so the ORM's unit of
        # work would only add cost on the hottest path.
        self._db.execute(
            _INSERT_STATE,
            {
                "state": state,
                "nonce": nonce,
                "browser_binding": binding,
                "platform_id": registration.platform.id,
                "login_params": {k: v for k, v in params.items() if k != "lti_storage_target"},
                "storage_target": storage_target,
                "expires_at": now + timedelta(seconds=self._settings.login_state_ttl),
                "created_at": now,
            },
        )
        self._cookie_service.set_cookie(
            binding_cookie_name(state), binding, self._settings.login_state_ttl
        )
        auth_params = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": registration.platform.client_id,
            "redirect_uri": self._settings.url("/lti/launch"),
            "login_hint": params["login_hint"],
            "state": state,
            "nonce": nonce,
        }
        if params.get("lti_message_hint"):
            auth_params["lti_message_hint"] = params["lti_message_hint"]
        auth_login_url = registration.platform.auth_login_url
        separator = "&" if urlsplit(auth_login_url).query else "?"
        return LoginStart(
            auth_url=auth_login_url + separator + urlencode(auth_params),
            state=state,
            browser_binding=binding,
            storage_target=storage_target,
            platform_origin=_origin(auth_login_url),
        )

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        for name in LOGIN_PARAMS:
            value = self._get_request_param(name)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > MAX_PARAM_LENGTH:
                raise LaunchRefused(f"The login parameter {name} is too long or malformed.")
            params[name] = value
        return params

    def get_redirect(self, url: str) -> Any:  # pragma: no cover - pylti1p3 hook, unused
        raise NotImplementedError


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
