"""NRPS roster members become users of the tenant and enrollments of the course.

Two statements per call, whatever the number of members: an INSERT .. ON CONFLICT DO UPDATE
of the users (keyed by platform + `sub`, never by email) returning their ids, then the same
for the enrollments. Names, email and roles are refreshed from the roster. Nothing commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..models import Enrollment, User, utcnow
from .nrps import RosterMember
from .roles import LEARNER, primary_role


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def enroll_members(
    session: Session, *, platform_id: int, context_id: int, members: Sequence[RosterMember]
) -> dict[str, int]:
    """Upsert the members' users and enrollments; {sub: user id} of the active learners."""
    latest = {m.sub[:255]: m for m in members}  # a sub listed twice: its last entry counts
    if not latest:
        return {}
    now = utcnow()
    insert = _insert(session)
    users = insert(User)
    rows = session.execute(
        users.on_conflict_do_update(
            index_elements=["platform_id", "sub"],
            set_={
                name: users.excluded[name]
                for name in ("name", "given_name", "family_name", "email", "updated_at")
            },
        ).returning(User.sub, User.id),
        [
            {
                "platform_id": platform_id,
                "sub": sub,
                "name": m.name[:255],
                "given_name": m.given_name[:255],
                "family_name": m.family_name[:255],
                "email": (m.email or "")[:320] or None,
                "created_at": now,
                "updated_at": now,
            }
            for sub, m in latest.items()
        ],
    )
    user_ids: dict[str, int] = {sub: user_id for sub, user_id in rows}
    roles = {sub: primary_role(m.roles) for sub, m in latest.items()}
    enrollments = insert(Enrollment)
    session.execute(
        enrollments.on_conflict_do_update(
            index_elements=["context_id", "user_id"],
            set_={name: enrollments.excluded[name] for name in ("roles", "role", "updated_at")},
        ),
        [
            {
                "context_id": context_id,
                "user_id": user_ids[sub],
                "roles": list(m.roles)[:50],
                "role": roles[sub],
                "updated_at": now,
            }
            for sub, m in latest.items()
        ],
    )
    return {
        sub: user_ids[sub]
        for sub, m in latest.items()
        if roles[sub] == LEARNER and m.status.lower() == "active"
    }
