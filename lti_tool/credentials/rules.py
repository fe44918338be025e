"""Gradebook rules: earn an achievement from an AGS line item's results.

Two kinds of rule:

- `score_at_least`: the learner's result, as a percentage (`resultScore / resultMaximum`,
  with the line item's `scoreMaximum` when the result names no maximum), is at least the
  threshold. Compared after rounding to 6 decimals, so 0.8 of 1 is exactly 80 %.
- `completed`: the platform holds a graded result for the learner (`resultScore` present).
  AGS 2.0 exposes `activityProgress` / `gradingProgress` only on the *scores* a tool posts
  (§3.4); the results service a tool can read (§3.3) carries none of them. A result with a
  score is the platform's record that the activity was graded, which is the one completion
  signal every platform gives back; a result without a score (some platforms list every
  member) does not count.

The HTTP side (results, roster) runs before this module's functions, outside any
transaction; `apply_results` then awards in the caller's one write transaction, through
`awards.award` (source `rule`, idempotent: a second run creates nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.models import Achievement, AchievementRule, Enrollment, User, utcnow
from lti_tool.models.rules import RULE_COMPLETED, RULE_KINDS, RULE_SCORE_AT_LEAST
from lti_tool.upsert import upsert

from . import awards
from .audit import ActorRef
from .errors import CredentialError

OUTCOME_OK = "ok"
OUTCOME_ERROR = "error"
LEARNER_ROLE = "learner"


class GradeResult(Protocol):
    @property
    def user_id(self) -> str: ...
    @property
    def result_score(self) -> float | None: ...
    @property
    def result_maximum(self) -> float | None: ...


class Member(Protocol):
    """A roster member (lti.nrps.RosterMember) as this module needs it."""

    @property
    def sub(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def given_name(self) -> str: ...
    @property
    def family_name(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def roles(self) -> tuple[str, ...]: ...


@dataclass
class RuleOutcome:
    awarded: int = 0
    already_held: int = 0
    not_met: int = 0
    provisioned: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # sub -> reason

    def summary(self) -> str:
        text = (
            f"{self.awarded} awarded, {self.already_held} already held, "
            f"{self.not_met} not meeting the rule"
        )
        if self.provisioned:
            text += f", {self.provisioned} learner(s) added from the roster"
        if self.skipped:
            shown = "; ".join(f"{sub}: {why}" for sub, why in list(self.skipped.items())[:5])
            more = len(self.skipped) - 5
            text += f", {len(self.skipped)} skipped ({shown}{f'; {more} more' if more > 0 else ''})"
        return text + "."


def percent(result: GradeResult, line_item_maximum: float | None = None) -> float | None:
    """The result as a percentage, or None when it cannot be computed (no score, or a
    maximum that is missing or not positive)."""
    if result.result_score is None:
        return None
    maximum = result.result_maximum if result.result_maximum is not None else line_item_maximum
    if maximum is None or maximum <= 0:
        return None
    return round(result.result_score / maximum * 100, 6)


def qualifies(
    rule_kind: str,
    threshold: float | None,
    result: GradeResult,
    line_item_maximum: float | None = None,
) -> tuple[bool, float | None]:
    """(met, percent) for one result."""
    value = percent(result, line_item_maximum)
    if rule_kind == RULE_COMPLETED:
        return result.result_score is not None, value
    if rule_kind == RULE_SCORE_AT_LEAST:
        if value is None or threshold is None:
            return False, value
        return value >= threshold, value
    raise ValueError(f"unknown rule kind {rule_kind!r}")


def award_result(achievement: Achievement, value: float | None) -> dict[str, Any] | None:
    """The `result` to store on the award: the percentage, kept within the achievement's
    declared range; none for achievements described by levels."""
    if value is None:
        return None
    description = achievement.result_description
    if description is None:
        return {"value": value}
    if description.get("result_type") != "Percent":
        return None
    low = float(description.get("value_min", 0.0))
    high = float(description.get("value_max", 100.0))
    return {"value": min(max(value, low), high)}


# -- rules ----------------------------------------------------------------------------------


def save_rule(
    session: Session,
    achievement: Achievement,
    *,
    context_id: int,
    kind: str,
    threshold: float | None,
    lineitem_url: str,
    lineitem_label: str,
    enabled: bool = True,
) -> AchievementRule:
    """Create or replace the achievement's rule in this course."""
    if kind not in RULE_KINDS:
        raise ValueError(f"unknown rule kind {kind!r}")
    if kind == RULE_SCORE_AT_LEAST and (threshold is None or not 0 <= threshold <= 100):
        raise ValueError("a score rule needs a threshold between 0 and 100 %")
    rule = session.scalars(
        select(AchievementRule).where(
            AchievementRule.achievement_id == achievement.id,
            AchievementRule.context_id == context_id,
        )
    ).one_or_none()
    if rule is None:
        rule = AchievementRule(
            platform_id=achievement.platform_id,
            achievement_id=achievement.id,
            context_id=context_id,
        )
        session.add(rule)
    changed = (rule.kind, rule.threshold, rule.lineitem_url) != (kind, threshold, lineitem_url)
    rule.kind = kind
    rule.threshold = threshold if kind == RULE_SCORE_AT_LEAST else None
    rule.lineitem_url = lineitem_url
    rule.lineitem_label = lineitem_label[:255]
    rule.enabled = enabled
    if changed:
        rule.last_run_at = None
        rule.last_outcome = None
        rule.last_detail = None
    session.flush()
    return rule


def provision_member(
    session: Session, *, platform_id: int, context_id: int, member: Member, role: str
) -> int:
    """A roster member who never launched the tool becomes a user of the tenant."""
    now = utcnow()
    user_id = upsert(
        session,
        User,
        {
            "platform_id": platform_id,
            "sub": member.sub[:255],
            "name": member.name[:255],
            "given_name": member.given_name[:255],
            "family_name": member.family_name[:255],
            "email": (member.email or "")[:320] or None,
            "created_at": now,
            "updated_at": now,
        },
        conflict=("platform_id", "sub"),
        update=("name", "given_name", "family_name", "email", "updated_at"),
    )
    upsert(
        session,
        Enrollment,
        {
            "context_id": context_id,
            "user_id": user_id,
            "roles": list(member.roles)[:50],
            "role": role,
            "updated_at": now,
        },
        conflict=("context_id", "user_id"),
        update=("roles", "role", "updated_at"),
    )
    return user_id


def _users_by_sub(session: Session, platform_id: int, subs: list[str]) -> dict[str, User]:
    users: dict[str, User] = {}
    for start in range(0, len(subs), 500):
        users.update(
            (u.sub, u)
            for u in session.scalars(
                select(User).where(
                    User.platform_id == platform_id, User.sub.in_(subs[start : start + 500])
                )
            )
        )
    return users


def apply_results(
    session: Session,
    rule_id: int,
    results: Iterable[GradeResult],
    *,
    line_item_maximum: float | None = None,
    roster: Mapping[str, tuple[Member, str]] | None = None,
) -> RuleOutcome:
    """Award the rule's achievement to every learner whose result meets it.

    `roster` maps sub -> (member, primary role) when the course roster (NRPS) was fetched;
    learners unknown to the tool are then added from it, otherwise they are skipped with the
    reason recorded. Records the run on the rule. Flushes; the caller commits.
    """
    rule = session.get_one(AchievementRule, rule_id)
    achievement = session.get_one(Achievement, rule.achievement_id)
    actor = ActorRef(f"rule:{rule.id}")
    outcome = RuleOutcome()
    met: list[tuple[str, float | None]] = []
    for result in results:
        ok, value = qualifies(rule.kind, rule.threshold, result, line_item_maximum)
        if ok:
            met.append((result.user_id, value))
        else:
            outcome.not_met += 1
    users = _users_by_sub(session, rule.platform_id, [sub for sub, _ in met])
    provisioned: list[str] = []
    for sub, _ in met:
        if sub in users:
            continue
        entry = roster.get(sub) if roster is not None else None
        if entry is None:
            outcome.skipped[sub] = (
                "unknown to the tool and not in the course roster"
                if roster is not None
                else "unknown to the tool; the LMS offers no roster (NRPS)"
            )
            continue
        member, role = entry
        if role != LEARNER_ROLE:
            outcome.skipped[sub] = f"not a learner in the roster ({role})"
            continue
        provision_member(
            session,
            platform_id=rule.platform_id,
            context_id=rule.context_id,
            member=member,
            role=role,
        )
        provisioned.append(sub)
    outcome.provisioned = len(provisioned)
    users.update(_users_by_sub(session, rule.platform_id, provisioned))

    # One `award_many` per distinct result (scores repeat: a handful of groups), in batches.
    groups: dict[float | None, list[User]] = {}
    for sub, value in met:
        if sub in users:
            groups.setdefault(value, []).append(users[sub])
    for value, learners in groups.items():
        for start in range(0, len(learners), awards.BATCH_ROWS):
            batch = learners[start : start + awards.BATCH_ROWS]
            try:
                done = awards.award_many(
                    session,
                    achievement,
                    batch,
                    source="rule",
                    actor=actor,
                    result=award_result(achievement, value),
                )
            except CredentialError as exc:  # the same reason for the whole batch
                outcome.skipped.update((learner.sub, str(exc)) for learner in batch)
                continue
            created = sum(1 for _, new in done if new)
            outcome.awarded += created
            outcome.already_held += len(done) - created
    record_run(session, rule, OUTCOME_OK, outcome.summary())
    return outcome


def record_run(session: Session, rule: AchievementRule, outcome: str, detail: str) -> None:
    rule.last_run_at = utcnow()
    rule.last_outcome = outcome
    rule.last_detail = detail[:4000]
    session.flush()


def record_failure(session: Session, rule_id: int, detail: str) -> None:
    rule = session.get(AchievementRule, rule_id)
    if rule is not None:
        record_run(session, rule, OUTCOME_ERROR, detail)
