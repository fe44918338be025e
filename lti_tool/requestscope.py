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


def db_read() -> Session:
    """A read-only session for pages and endpoints that never write."""
    if "db_read_session" not in g:
        g.db_read_session = services().database.reader()
    session: Session = g.db_read_session
    return session


def close_db(_exc: BaseException | None = None) -> None:
    for name in ("db_session", "db_read_session"):
        session: Session | None = g.pop(name, None)
        if session is not None:
            session.rollback()
            session.close()
