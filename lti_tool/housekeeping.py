"""Delete expired login states, launch data and tool sessions.

Each process does this at most once per `interval` seconds, from inside a login request
that already holds a write transaction, so no scheduler is needed on the embedded default.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import delete
from sqlalchemy.orm import Session

from .models import LaunchData, LoginState, ToolSession, utcnow

_EXPIRING = (LoginState, LaunchData, ToolSession)


def purge_expired(session: Session) -> int:
    now = utcnow()
    removed = 0
    for model in _EXPIRING:
        result = session.execute(delete(model).where(model.expires_at <= now))
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed


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
        return purge_expired(session)
