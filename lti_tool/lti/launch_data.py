"""pylti1p3 launch-data storage in our database (never files, never the Flask session).

Keys are launch ids (random UUIDs), so no session-id cookie is needed to scope them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pylti1p3.launch_data_storage.base import LaunchDataStorage
from sqlalchemy.orm import Session

from ..models import LaunchData, utcnow
from ..upsert import upsert_by_key

DEFAULT_LIFETIME = 86400


class DatabaseLaunchDataStorage(LaunchDataStorage[Any]):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self._session = session

    def get_session_cookie_name(self) -> str | None:
        return None

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        row = self._session.get(LaunchData, key)
        if row is None or row.expires_at <= utcnow():
            return None
        return row.value

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        expires_at = utcnow() + timedelta(seconds=exp or DEFAULT_LIFETIME)
        # One INSERT .. ON CONFLICT statement: no SELECT (and autoflush) first; launch ids
        # are fresh UUIDs, so the row is nearly always new.
        upsert_by_key(
            self._session,
            LaunchData,
            {"key": key, "value": value, "expires_at": expires_at},
            conflict=("key",),
            update=("value", "expires_at"),
        )
        stale = self._session.identity_map.get(self._session.identity_key(LaunchData, key))
        if stale is not None:
            self._session.expire(stale)

    def check_value(self, key: str) -> bool:
        return self.get_value(key) is not None
