"""Launch validation: pylti1p3's MessageLaunch with its known gaps closed.

Checks, in order (1EdTech Security Framework §5.1.3, OIDC Core §3.1.3.7, reference/lti.md):
size and shape of the id_token; header `alg` is RS256 with a `kid`; a registration for
(iss, client_id); the signature against the platform JWKS (re-downloaded once on an unknown
kid); `iss`, `aud`, `azp`, `exp`, `iat` with a small skew; the login state is consumed
exactly once and was bound to this browser; the token's nonce is the one issued with that
state (so a replayed id_token is refused); the deployment is known; the message is a
supported LTI 1.3.0 message whose target is this tool.
"""

from __future__ import annotations

import binascii
import hmac
import json
from collections.abc import Mapping
from typing import Any

import jwt
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskRequest
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.session import SessionService
from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..models import LoginState, utcnow
from ..settings import Settings
from .claims import DEPLOYMENT_ID, MESSAGE_TYPE, TARGET_LINK_URI
from .cookies import PartitionedCookieService
from .errors import LaunchRefused
from .launch_data import DatabaseLaunchDataStorage
from .login import is_our_url
from .platform_keys import PlatformKeyCache
from .registration import add_auto_deployment
from .tool_config import DatabaseToolConf, PlatformRegistration

SUPPORTED_MESSAGES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")

# What a person is told when PyJWT refuses the id_token (the log gets PyJWT's own words).
_JWT_REFUSALS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "The launch message has expired."),
    (jwt.ImmatureSignatureError, "The launch message is dated in the future."),
    (jwt.InvalidAudienceError, "The launch message is meant for another tool (aud)."),
    (jwt.InvalidIssuerError, "The launch message has the wrong issuer."),
    (jwt.InvalidSignatureError, "The launch message's signature is not valid."),
)


def client_id_of(body: Mapping[str, Any]) -> str:
    """The client id a (not yet verified) id_token is addressed to: `aud`, or `azp` among
    several audiences. pylti1p3 takes `aud[0]`, which picks the wrong registration when
    the platform lists another audience first."""
    aud, azp = body.get("aud"), body.get("azp")
    if isinstance(aud, str) and aud:
        return aud
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        if len(aud) == 1:
            return str(aud[0])
        if isinstance(azp, str) and azp in aud:
            return azp
        raise LaunchRefused(
            "The launch names several audiences but no authorized party (azp) among them."
        )
    raise LaunchRefused("The launch has no audience (aud).")


def warm_platform_key(keys: PlatformKeyCache, id_token: str, max_bytes: int) -> None:
    """Before the launch transaction opens: load the platform key this token names.

    Reads the token unverified, only to know which registration and kid to load; the
    signature and every claim are checked afterwards by the launch itself.
    """
    if not id_token or len(id_token) > max_bytes:
        return
    try:
        # pylti1p3's stdlib base64 + json parse: PyJWT's parser checks every character in
        # Python and would run a third time per launch for no gain (the verifying decode
        # later does it once).
        head, payload, _ = id_token.split(".")
        header = json.loads(MessageLaunch.urlsafe_b64decode(head))
        body = json.loads(MessageLaunch.urlsafe_b64decode(payload))
        if not isinstance(header, dict) or not isinstance(body, dict):
            return
        client_id = client_id_of(body)
    except (LaunchRefused, ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        return  # malformed: the launch refuses it with the precise reason
    kid, iss = header.get("kid"), body.get("iss")
    if isinstance(kid, str) and isinstance(iss, str) and header.get("alg") == "RS256":
        keys.warm(iss, client_id, kid)


class MicrocredMessageLaunch(FlaskMessageLaunch):
    def __init__(
        self,
        request: FlaskRequest,
        tool_conf: DatabaseToolConf,
        cookies: PartitionedCookieService,
        *,
        session: Session,
        settings: Settings,
        platform_keys: PlatformKeyCache,
        browser_binding: str | None,
    ) -> None:
        storage = DatabaseLaunchDataStorage(session)
        session_service = SessionService(request)
        super().__init__(
            request,
            tool_conf,
            session_service=session_service,
            cookie_service=cookies,
            launch_data_storage=storage,
        )
        self.set_launch_data_lifetime(settings.tool_session_ttl)
        self._db = session
        self._settings = settings
        self._platform_keys = platform_keys
        self._browser_binding = browser_binding

    # -- the pipeline -------------------------------------------------------------------

    def validate(self) -> MicrocredMessageLaunch:
        if self._restored:
            raise LtiException("Can't validate restored launch")
        self._validated = True
        try:
            self.validate_size()
            self.validate_jwt_format()
            self.validate_header()
            self.validate_registration()
            self.validate_jwt_signature()
            self.validate_state()
            self.validate_deployment()
            self.validate_message()
            self.save_launch_data()
        except LtiException as exc:
            self._validated = False
            raise LaunchRefused(f"The launch message is not valid: {exc}") from exc
        except Exception:
            self._validated = False
            raise
        return self

    @property
    def registration(self) -> PlatformRegistration:
        assert isinstance(self._registration, PlatformRegistration)
        return self._registration

    @property
    def claims(self) -> Mapping[str, Any]:
        return self._get_jwt_body()

    def validate_size(self) -> MicrocredMessageLaunch:
        id_token = self._get_request_param("id_token")
        if not id_token:
            raise LaunchRefused("The launch has no id_token.")
        if len(id_token) > self._settings.max_id_token_bytes:
            raise LaunchRefused(
                "The launch message is too large.",
                reason=f"id_token of {len(id_token)} bytes",
                status=413,
            )
        return self

    def validate_jwt_format(self) -> MicrocredMessageLaunch:
        try:
            super().validate_jwt_format()
        except LtiException as exc:
            raise LaunchRefused("The id_token is not a JWT.", reason=str(exc)) from exc
        if not isinstance(self._jwt.get("header"), dict) or not isinstance(
            self._jwt.get("body"), dict
        ):
            raise LaunchRefused("The id_token is not a JWT.", reason="header/body not objects")
        return self

    def validate_header(self) -> MicrocredMessageLaunch:
        header = self._jwt["header"]
        if header.get("alg") != "RS256":
            raise LaunchRefused(
                "The launch is not signed with RS256.",
                reason=f"refused alg {header.get('alg')!r}",
            )
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise LaunchRefused("The launch's signing key id (kid) is missing.")
        return self

    def get_client_id(self) -> str:
        return client_id_of(self._jwt.get("body", {}))

    def get_iss(self) -> str:
        iss = self._jwt.get("body", {}).get("iss")
        if not isinstance(iss, str) or not iss:
            raise LaunchRefused("The launch has no issuer (iss).")
        return iss

    def validate_jwt_signature(self) -> MicrocredMessageLaunch:
        platform = self.registration.platform
        key = self._platform_keys.key_for(platform, self._jwt["header"]["kid"])
        client_id = platform.client_id
        try:
            claims = jwt.decode(
                self._get_id_token(),
                key,
                algorithms=["RS256"],
                audience=client_id,
                issuer=platform.issuer,
                leeway=self._settings.clock_skew,
                options={"require": ["iss", "aud", "exp", "iat", "nonce"]},
            )
        except jwt.InvalidTokenError as exc:
            public = next(
                (text for kind, text in _JWT_REFUSALS if isinstance(exc, kind)),
                "The launch message is not valid.",
            )
            raise LaunchRefused(public, reason=str(exc)) from exc
        aud = claims["aud"]
        azp = claims.get("azp")
        if (isinstance(aud, list) and len(aud) > 1 and azp is None) or (
            azp is not None and azp != client_id
        ):
            raise LaunchRefused(
                "The launch's authorized party (azp) is not this tool.",
                reason=f"azp={azp!r} aud={aud!r} client_id={client_id!r}",
            )
        self._jwt["body"] = claims  # type: ignore[typeddict-item]
        return self

    def validate_state(self) -> MicrocredMessageLaunch:
        state = self._get_request_param("state")
        if not state or not isinstance(state, str):
            raise LaunchRefused("The launch has no state.")
        consumed = self._db.execute(
            delete(LoginState)
            .where(LoginState.state == state)
            .returning(
                LoginState.nonce,
                LoginState.browser_binding,
                LoginState.platform_id,
                LoginState.expires_at,
            )
        ).first()
        if consumed is None:
            raise LaunchRefused(
                "This launch was already used or has expired. Open the tool again from the course.",
                reason="unknown or consumed state",
            )
        nonce, binding, platform_id, expires_at = consumed
        if expires_at <= utcnow():
            raise LaunchRefused("The login took too long. Open the tool again from the course.")
        if not self._browser_binding or not hmac.compare_digest(
            self._browser_binding.encode(), binding.encode()
        ):
            raise LaunchRefused(
                "This launch did not start in this browser (state mismatch).",
                reason="browser binding mismatch",
            )
        if platform_id != self.registration.platform.id:
            raise LaunchRefused("The launch came from another LMS than its login.")
        if not hmac.compare_digest(str(self._jwt["body"].get("nonce")).encode(), nonce.encode()):
            raise LaunchRefused(
                "The launch message was already used (nonce).", reason="nonce mismatch"
            )
        return self

    def validate_deployment(self) -> MicrocredMessageLaunch:
        deployment_id = self._jwt["body"].get(DEPLOYMENT_ID)
        if not isinstance(deployment_id, str) or not deployment_id:
            raise LaunchRefused("The launch has no deployment id.")
        # In the launch's write transaction (open since the state was consumed): no extra
        # read-session round trip.
        row = self._tool_config.find_deployment_row(
            self.registration.platform.issuer,
            deployment_id,
            self.registration.platform.client_id,
            session=self._db,
        )
        if row is None and self.registration.platform.auto_deployments:
            row = add_auto_deployment(self._db, self.registration.platform, deployment_id)
        if row is None:
            raise LaunchRefused(
                "This deployment of the tool is not registered. Ask your LMS administrator to "
                "add the deployment id.",
                reason=f"unknown deployment {deployment_id!r}",
                status=403,
            )
        self.deployment = row
        return self

    def validate_message(self) -> MicrocredMessageLaunch:
        body = self._jwt["body"]
        message_type = body.get(MESSAGE_TYPE)
        if not message_type:
            raise LaunchRefused("The launch has no message type.")
        if message_type not in SUPPORTED_MESSAGES:
            raise LaunchRefused(
                f"This tool does not handle {str(message_type)[:64]!r} messages.",
            )
        super().validate_message()
        target = body.get(TARGET_LINK_URI)
        if not isinstance(target, str) or not is_our_url(self._settings, target):
            raise LaunchRefused(
                "The launch's target_link_uri is not this tool.",
                reason=f"target_link_uri={target!r}",
            )
        return self

    def save_launch_data(self) -> MicrocredMessageLaunch:
        # Only a deep-linking launch is read back later (its response needs the settings
        # claim); a resource-link launch keeps its service endpoints on the course row.
        if self._jwt["body"].get(MESSAGE_TYPE) == "LtiDeepLinkingRequest":
            self._session_service.save_launch_data(self._launch_id, self._jwt["body"])
        return self
