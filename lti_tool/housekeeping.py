"""Delete expired login states, launch data and tool sessions; expire awards whose validity
ended (`awards.expire_due`: status, audit event, sync deliveries).

Each process does this at most once per `interval` seconds, from inside a login request
that already holds a write transaction, so no scheduler is needed on the embedded default.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import delete
from sqlalchemy.orm import Session

from .credentials.awards import expire_due
from .models import LaunchData, LoginState, ToolSession, utcnow

_EXPIRING = (LoginState, LaunchData, ToolSession)
log = logging.getLogger(__name__)


def purge_expired(session: Session) -> int:
    now = utcnow()
    removed = 0
    for model in _EXPIRING:
        result = session.execute(delete(model).where(model.expires_at <= now))
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed


def expire_awards(session: Session) -> int:
    """Run `expire_due` in a savepoint: a failing award listener must not fail the request
    that hosts housekeeping; the next run retries."""
    try:
        with session.begin_nested():
            return len(expire_due(session))
    except Exception:
        log.exception("expiring awards failed; the next housekeeping run retries")
        return 0


class Housekeeper:
    def __init__(self, interval: float = 300) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = threading.Lock()

    def maybe_purge(self, session: Session) -> int | None:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return None
            self._next = now + self.interval
        removed = purge_expired(session)
        expire_awards(session)
        return removed
