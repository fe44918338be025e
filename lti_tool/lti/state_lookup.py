"""Read a pending login state without consuming it (cookie-less launch paths)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import LoginState, Platform, utcnow


@dataclass(frozen=True)
class PendingLogin:
    storage_target: str | None
    platform_origin: str
    new_window_path: str


def peek_login_state(session: Session, state: str) -> PendingLogin | None:
    row = session.execute(
        select(LoginState, Platform.auth_login_url)
        .join(Platform, Platform.id == LoginState.platform_id)
        .where(LoginState.state == state)
    ).first()
    if row is None or row[0].expires_at <= utcnow():
        return None
    login_state, auth_login_url = row
    parts = urlsplit(auth_login_url)
    # Restarting the login in a top-level window: the tool is then first-party and its
    # cookie is kept; the LMS runs the OIDC flow again there.
    return PendingLogin(
        storage_target=login_state.storage_target,
        platform_origin=f"{parts.scheme}://{parts.netloc}",
        new_window_path="/lti/login?" + urlencode(login_state.login_params),
    )
