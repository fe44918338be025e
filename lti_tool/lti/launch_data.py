"""pylti1p3 launch-data storage in our database (never files, never the Flask session).

Keys are launch ids (random UUIDs), so no session-id cookie is needed to scope them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pylti1p3.launch_data_storage.base import LaunchDataStorage
from sqlalchemy.orm import Session

from ..models import LaunchData, utcnow

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
        row = self._session.get(LaunchData, key)
        if row is None:
            self._session.add(LaunchData(key=key, value=value, expires_at=expires_at))
        else:
            row.value = value
            row.expires_at = expires_at

    def check_value(self, key: str) -> bool:
        return self.get_value(key) is not None
