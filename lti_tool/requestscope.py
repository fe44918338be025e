"""Per-request access to the app's services and one database session.

The session is opened lazily and closed at teardown (rolled back unless a view committed):
views commit once, at the boundary.
"""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from .services import Services


def services() -> Services:
    svc: Services = current_app.extensions["microcred"]
    return svc


def db() -> Session:
    if "db_session" not in g:
        g.db_session = services().database.sessionmaker()
    session: Session = g.db_session
    return session


def close_db(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
