"""Score post-back to the LMS gradebook for achievements placed in a course.

`on_award_event` is an award listener: in the award's transaction it queues one
`score_postbacks` row per placement of the achievement (with a line item) in a course the
learner belongs to. Nothing is sent here: the gradebook job (lti_tool.gradebook) claims due
rows after the award committed, posts `Completed` with the score outside any transaction,
and records the outcome. A failed post is retried with backoff and never touches the award.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from lti_tool.models import (
    AchievementPlacement,
    Award,
    Enrollment,
    ScorePostback,
    utcnow,
)
from lti_tool.models.rules import POSTBACK_DONE, POSTBACK_FAILED, POSTBACK_PENDING

from . import awards

SCORE_MAXIMUM = 100.0
# Seconds to wait before attempt 2, 3, ...; after the last one the row is `failed`.
RETRY_DELAYS = (30, 300, 1800, 7200, 43200)
LEASE_SECONDS = 120


def score_of(award: Award) -> float:
    """The award's result value (a percentage) or 100: the achievement was earned."""
    value = (award.result or {}).get("value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(min(max(value, 0.0), SCORE_MAXIMUM))
    return SCORE_MAXIMUM


def enqueue(session: Session, batch: Sequence[Award]) -> int:
    """Queue the post-backs of newly created awards (all of one transaction)."""
    if not batch:
        return 0
    achievement_ids = {a.achievement_id for a in batch}
    placements = session.execute(
        select(
            AchievementPlacement.id,
            AchievementPlacement.achievement_id,
            AchievementPlacement.context_id,
        ).where(
            AchievementPlacement.achievement_id.in_(achievement_ids),
            AchievementPlacement.with_lineitem.is_(True),
        )
    ).all()
    if not placements:  # the common case: one query per batch, nothing else
        return 0
    user_ids = list({a.user_id for a in batch})
    enrolled = {
        (user_id, context_id)
        for user_id, context_id in session.execute(
            select(Enrollment.user_id, Enrollment.context_id).where(
                Enrollment.user_id.in_(user_ids),
                Enrollment.context_id.in_({context_id for _, _, context_id in placements}),
            )
        )
    }
    now = utcnow()
    rows = [
        {
            "placement_id": placement_id,
            "award_id": award.id,
            "user_id": award.user_id,
            "score_given": score_of(award),
            "status": POSTBACK_PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for award in batch
        for placement_id, achievement_id, context_id in placements
        if achievement_id == award.achievement_id and (award.user_id, context_id) in enrolled
    ]
    if rows:
        session.execute(insert(ScorePostback), rows)
    return len(rows)


class _Listener:
    """The award listener (one award, or many at once from `awards.award_many`)."""

    def __call__(self, session: Session, award: Award, action: str) -> None:
        if action == awards.AWARD_CREATED:
            enqueue(session, [award])

    def many(self, session: Session, batch: Sequence[Award], action: str) -> None:
        if action == awards.AWARD_CREATED:
            enqueue(session, batch)


on_award_event = _Listener()


def install() -> None:
    if on_award_event not in awards.award_listeners:
        awards.award_listeners.append(on_award_event)


def uninstall() -> None:
    if on_award_event in awards.award_listeners:
        awards.award_listeners.remove(on_award_event)


# -- the job's side: claim, then record -------------------------------------------------------


@dataclass(frozen=True)
class DuePostback:
    id: int
    placement_id: int
    attempts: int  # including the one being made now
    score_given: float


def claim_due(session: Session, limit: int = 50) -> list[DuePostback]:
    """Take up to `limit` due rows for one attempt each: a conditional UPDATE per row moves
    `next_attempt_at` a lease ahead, so two processes never post the same row at once."""
    now = utcnow()
    rows = session.execute(
        select(
            ScorePostback.id,
            ScorePostback.placement_id,
            ScorePostback.attempts,
            ScorePostback.score_given,
            ScorePostback.next_attempt_at,
        )
        .where(ScorePostback.status == POSTBACK_PENDING, ScorePostback.next_attempt_at <= now)
        .order_by(ScorePostback.next_attempt_at, ScorePostback.id)
        .limit(limit)
    ).all()
    claimed: list[DuePostback] = []
    for row_id, placement_id, attempts, score, due_at in rows:
        taken = session.execute(
            update(ScorePostback)
            .where(ScorePostback.id == row_id, ScorePostback.next_attempt_at == due_at)
            .values(
                attempts=attempts + 1,
                next_attempt_at=now + timedelta(seconds=LEASE_SECONDS),
            )
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(DuePostback(row_id, placement_id, attempts + 1, score))
    return claimed


def record_success(session: Session, postback_id: int) -> None:
    # The row can be gone by the time the LMS answered (its platform was removed): nothing
    # is left to record.
    row = session.get(ScorePostback, postback_id)
    if row is None:
        return
    row.status = POSTBACK_DONE
    row.done_at = utcnow()
    row.last_error = None
    session.flush()


def record_failure(
    session: Session, postback_id: int, error: str, *, permanent: bool = False
) -> datetime | None:
    """Schedule the next attempt (returned) or give up (`failed`, None)."""
    row = session.get(ScorePostback, postback_id)
    if row is None:  # removed while the LMS was being called (see record_success)
        return None
    row.last_error = error[:2000]
    if permanent or row.attempts > len(RETRY_DELAYS):
        row.status = POSTBACK_FAILED
        session.flush()
        return None
    row.next_attempt_at = utcnow() + timedelta(seconds=RETRY_DELAYS[row.attempts - 1])
    session.flush()
    return row.next_attempt_at
