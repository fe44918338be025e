"""Creating, changing and archiving achievements; the tenant's issuer profile.

Input is checked with `schemas.credentials.achievements`; problems raise
`marshmallow.ValidationError` whose `messages` map each field to what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.models import (
    Achievement,
    AchievementAlignment,
    AchievementImage,
    Context,
    IssuerProfile,
    Platform,
    utcnow,
)
from schemas.credentials.achievements import AchievementSchema, IssuerProfileSchema

from . import audit
from .audit import Actor
from .errors import AchievementArchived, CredentialError
from .images import ValidatedImage, validate_image

ACHIEVEMENT_CREATED = "achievement.created"
ACHIEVEMENT_UPDATED = "achievement.updated"
ACHIEVEMENT_ARCHIVED = "achievement.archived"

AchievementListener = Callable[[Session, Achievement, Sequence[str]], None]

# Called as listener(session, achievement, changed_fields) inside the transaction, after an
# update is flushed and audited: the OB 3.0 credential issuer re-issues the credentials that
# show the changed fields, without this module importing it. A listener that raises aborts
# the update.
achievement_listeners: list[AchievementListener] = []
ISSUER_PROFILE_UPDATED = "issuer_profile.updated"

_SIMPLE_FIELDS = (
    "name",
    "description",
    "criteria_narrative",
    "criteria_url",
    "achievement_type",
    "tags",
    "validity_days",
    "evidence_required",
    "result_description",
)


class _Unset:
    pass


UNSET: Any = _Unset()


def _load(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = AchievementSchema().load(dict(data), partial=partial)
    except ValidationError as exc:
        raise ValidationError(exc.normalized_messages()) from exc
    return loaded


def _check_context(session: Session, platform_id: int, context_id: int | None) -> None:
    if context_id is None:
        return
    context = session.get(Context, context_id)
    if context is None or context.platform_id != platform_id:
        raise ValidationError({"context_id": ["no such course in this platform"]})


def _image(data: bytes | None, media_type: str | None) -> ValidatedImage | None:
    return None if data is None else validate_image(data, media_type)


def _set_image(achievement: Achievement, image: ValidatedImage | None) -> None:
    if image is None:
        achievement.image = None
        return
    if achievement.image is None:
        achievement.image = AchievementImage(
            media_type=image.media_type,
            data=image.data,
            sha256=image.sha256,
            width=image.width,
            height=image.height,
        )
    else:
        achievement.image.media_type = image.media_type
        achievement.image.data = image.data
        achievement.image.sha256 = image.sha256
        achievement.image.width = image.width
        achievement.image.height = image.height


def _alignments(items: list[dict[str, Any]]) -> list[AchievementAlignment]:
    return [AchievementAlignment(position=i, **item) for i, item in enumerate(items)]


def get_achievement(session: Session, achievement_id: int, *, platform_id: int) -> Achievement:
    found = session.scalars(
        select(Achievement).where(
            Achievement.id == achievement_id, Achievement.platform_id == platform_id
        )
    ).one_or_none()
    if found is None:
        raise CredentialError(f"no achievement {achievement_id} in this platform")
    return found


def list_achievements(
    session: Session,
    platform: Platform,
    *,
    context_id: int | None = None,
    include_archived: bool = False,
) -> list[Achievement]:
    """The platform's achievements: platform-wide ones plus those of `context_id`."""
    query = select(Achievement).where(Achievement.platform_id == platform.id)
    if context_id is not None:
        query = query.where(
            (Achievement.context_id.is_(None)) | (Achievement.context_id == context_id)
        )
    if not include_archived:
        query = query.where(Achievement.archived_at.is_(None))
    return list(session.scalars(query.order_by(Achievement.name, Achievement.id)))


def create_achievement(
    session: Session,
    platform: Platform,
    data: Mapping[str, Any],
    *,
    actor: Actor,
    image: bytes | None = None,
    image_media_type: str | None = None,
) -> Achievement:
    loaded = _load(data, partial=False)
    _check_context(session, platform.id, loaded.get("context_id"))
    checked_image = _image(image, image_media_type)
    achievement = Achievement(
        platform_id=platform.id,
        context_id=loaded.get("context_id"),
        **{name: loaded[name] for name in _SIMPLE_FIELDS},
    )
    achievement.alignments = _alignments(loaded["alignments"])
    _set_image(achievement, checked_image)
    session.add(achievement)
    session.flush()
    audit.record(
        session,
        platform_id=platform.id,
        actor=actor,
        action=ACHIEVEMENT_CREATED,
        subject_type="achievement",
        subject_id=achievement.id,
        data={
            "name": achievement.name,
            "achievement_type": achievement.achievement_type,
            "context_id": achievement.context_id,
            "image_sha256": checked_image.sha256 if checked_image else None,
        },
    )
    session.flush()
    return achievement


def update_achievement(
    session: Session,
    achievement: Achievement,
    changes: Mapping[str, Any],
    *,
    actor: Actor,
    image: bytes | None = UNSET,
    image_media_type: str | None = None,
) -> Achievement:
    """Apply `changes` (any subset of the fields); `image=None` removes the image.
    Awards already made keep pointing at the achievement (they show it as it is now)."""
    if achievement.archived_at is not None:
        raise AchievementArchived(f"achievement {achievement.name!r} is archived")
    loaded = _load(changes, partial=True)
    if "context_id" in loaded and loaded["context_id"] != achievement.context_id:
        raise ValidationError({"context_id": ["an achievement cannot move to another course"]})
    merged_narrative = loaded.get("criteria_narrative", achievement.criteria_narrative)
    merged_url = loaded.get("criteria_url", achievement.criteria_url)
    if not (merged_narrative or "").strip() and not merged_url:
        raise ValidationError(
            {"criteria_narrative": ["give criteria_narrative or criteria_url (or both)"]}
        )
    changed: list[str] = []
    for name in _SIMPLE_FIELDS:
        if name in loaded and getattr(achievement, name) != loaded[name]:
            setattr(achievement, name, loaded[name])
            changed.append(name)
    if "alignments" in loaded:
        achievement.alignments = _alignments(loaded["alignments"])
        changed.append("alignments")
    data: dict[str, Any] = {"changed": changed}
    if image is not UNSET:
        checked = _image(image, image_media_type)
        _set_image(achievement, checked)
        changed.append("image")
        data["image_sha256"] = checked.sha256 if checked else None
    if not changed:
        return achievement
    achievement.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        platform_id=achievement.platform_id,
        actor=actor,
        action=ACHIEVEMENT_UPDATED,
        subject_type="achievement",
        subject_id=achievement.id,
        data=data,
    )
    session.flush()
    for listener in list(achievement_listeners):
        listener(session, achievement, tuple(changed))
    return achievement


def archive_achievement(
    session: Session, achievement: Achievement, *, actor: Actor, reason: str | None = None
) -> Achievement:
    """No new awards; existing awards keep their status."""
    if achievement.archived_at is not None:
        raise AchievementArchived(f"achievement {achievement.name!r} is already archived")
    achievement.archived_at = utcnow()
    session.flush()
    audit.record(
        session,
        platform_id=achievement.platform_id,
        actor=actor,
        action=ACHIEVEMENT_ARCHIVED,
        subject_type="achievement",
        subject_id=achievement.id,
        reason=reason,
    )
    session.flush()
    return achievement


def set_issuer_profile(
    session: Session, platform: Platform, data: Mapping[str, Any], *, actor: Actor
) -> IssuerProfile:
    """Create or replace the tenant's issuer profile (name, url, email, description)."""
    try:
        loaded: dict[str, Any] = IssuerProfileSchema().load(dict(data))
    except ValidationError as exc:
        raise ValidationError(exc.normalized_messages()) from exc
    profile = session.get(IssuerProfile, platform.id)
    if profile is None:
        profile = IssuerProfile(platform_id=platform.id, **loaded)
        session.add(profile)
    else:
        for key, value in loaded.items():
            setattr(profile, key, value)
    session.flush()
    audit.record(
        session,
        platform_id=platform.id,
        actor=actor,
        action=ISSUER_PROFILE_UPDATED,
        subject_type="issuer_profile",
        subject_id=platform.id,
        data={k: v for k, v in loaded.items() if k != "description"},
    )
    session.flush()
    return profile


def issuer_profile(session: Session, platform: Platform) -> IssuerProfile:
    """The tenant's profile, or a default named after the platform (not saved)."""
    profile = session.get(IssuerProfile, platform.id)
    if profile is None:
        return IssuerProfile(platform_id=platform.id, name=platform.name, description="")
    return profile
