"""Finding a learner within one tenant: by id, email or HR identifier.

Awards key on the user row (platform + LTI `sub`), never on email, so an email change (a
new launch, a roster sync) keeps every award.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.models import Platform, User

from .errors import LearnerAmbiguous


def by_id(session: Session, platform: Platform, user_id: int) -> User | None:
    return session.scalars(
        select(User).where(User.id == user_id, User.platform_id == platform.id)
    ).one_or_none()


def by_sub(session: Session, platform: Platform, sub: str) -> User | None:
    return session.scalars(
        select(User).where(User.platform_id == platform.id, User.sub == sub)
    ).one_or_none()


def _one(users: list[User], what: str) -> User | None:
    if len(users) > 1:
        ids = ", ".join(str(u.id) for u in users)
        raise LearnerAmbiguous(f"{len(users)} learners share {what} (users {ids})")
    return users[0] if users else None


def by_email(session: Session, platform: Platform, email: str) -> User | None:
    """Case-insensitive; LearnerAmbiguous when several users of the tenant share it."""
    wanted = email.strip().lower()
    if not wanted:
        return None
    users = session.scalars(
        select(User)
        .where(User.platform_id == platform.id, func.lower(User.email) == wanted)
        .order_by(User.id)
    ).all()
    return _one(list(users), "this email address")


def by_hr_id(
    session: Session, platform: Platform, value: str, *, kind: str | None = None
) -> User | None:
    """By `lis_person_sourcedid`, or an `hr_ids` entry (`kind`, e.g. "employee_id";
    any kind when not given)."""
    value = value.strip()
    if not value:
        return None
    tenant = User.platform_id == platform.id
    if kind is None or kind == "person_sourcedid":
        users = list(
            session.scalars(
                select(User).where(tenant, User.person_sourcedid == value).order_by(User.id)
            )
        )
        if users or kind == "person_sourcedid":
            return _one(users, f"person_sourcedid {value!r}")
    if kind is not None:
        users = list(
            session.scalars(
                select(User).where(tenant, User.hr_ids[kind].as_string() == value).order_by(User.id)
            )
        )
        return _one(users, f"{kind} {value!r}")
    # Any kind: the JSON keys vary by platform, so filter the tenant's users in Python.
    candidates = session.scalars(select(User).where(tenant).order_by(User.id)).all()
    users = [u for u in candidates if any(str(v) == value for v in (u.hr_ids or {}).values())]
    return _one(users, f"HR id {value!r}")


def find_learner(
    session: Session,
    platform: Platform,
    *,
    user_id: int | None = None,
    email: str | None = None,
    hr_id: str | None = None,
    hr_id_kind: str | None = None,
) -> User | None:
    """The first of user_id, email, hr_id that is given decides."""
    if user_id is not None:
        return by_id(session, platform, user_id)
    if email is not None:
        return by_email(session, platform, email)
    if hr_id is not None:
        return by_hr_id(session, platform, hr_id, kind=hr_id_kind)
    raise ValueError("give user_id, email or hr_id")
