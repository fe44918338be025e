"""The gradebook job: evaluate AGS rules and post scores back, on demand and periodically.

Each step reads what it needs in a short read transaction, talks to the LMS with no
transaction open (the SQLite write gate is never held across HTTP), then writes the outcome
in one short write transaction. `GradebookSweeper` runs `run_once` every
`rules_interval_seconds` in a background thread of `microcred worker`; the instructor's
"Sync grades now" button runs the same steps for one rule.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import requests
from pylti1p3.exception import LtiServiceException
from sqlalchemy import select

from .credentials import postbacks, rules
from .lti.ags import AgsClient, AgsError, LineItem, Score
from .lti.nrps import RosterMember, roster
from .lti.roles import primary_role
from .lti.tool_config import PlatformRegistration
from .models import (
    AchievementPlacement,
    AchievementRule,
    Context,
    Platform,
    ScorePostback,
    User,
    utcnow,
)
from .services import Services

log = logging.getLogger(__name__)

SERVICE_ERRORS = (LtiServiceException, requests.RequestException, AgsError, ValueError)


def _reason(exc: Exception) -> str:
    if isinstance(exc, LtiServiceException):
        return f"the LMS refused the request ({str(exc)[:300]})"
    if isinstance(exc, requests.RequestException):
        return f"the LMS could not be reached ({type(exc).__name__})"
    return f"unexpected answer from the LMS: {str(exc)[:300]}"


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


@dataclass(frozen=True)
class _RulePlan:
    rule_id: int
    platform_id: int
    lineitem_url: str
    nrps_url: str | None
    registration: PlatformRegistration
    client: AgsClient


class GradebookJob:
    def __init__(self, services: Services) -> None:
        self.services = services

    # -- rules --------------------------------------------------------------------------

    def _plan(self, rule_id: int, *, manual: bool) -> _RulePlan | None:
        with self.services.database.read_session() as session:
            rule = session.get(AchievementRule, rule_id)
            if rule is None or not (rule.enabled or manual):
                return None
            context = session.get_one(Context, rule.context_id)
            platform = session.get_one(Platform, rule.platform_id)
            key = self.services.signing_keys.current(session)
            registration = PlatformRegistration(platform, lambda: key)
            nrps = (context.services or {}).get("nrps") or {}
            nrps_url = nrps.get("context_memberships_url") if isinstance(nrps, dict) else None
            return _RulePlan(
                rule_id=rule.id,
                platform_id=rule.platform_id,
                lineitem_url=rule.lineitem_url,
                nrps_url=nrps_url if isinstance(nrps_url, str) and nrps_url else None,
                registration=registration,
                client=AgsClient(registration, self.services.service_tokens, key),
            )

    def evaluate_rule(self, rule_id: int, *, manual: bool = False) -> rules.RuleOutcome | None:
        """Fetch the line item's results, then award in one write transaction. None when
        the rule is gone, or switched off for periodic runs (`manual` runs it anyway); a
        failing LMS is recorded on the rule and re-raised as `GradebookError`."""
        plan = self._plan(rule_id, manual=manual)
        if plan is None:
            return None
        try:
            line_item: LineItem | None = plan.client.line_item(plan.lineitem_url)
            results = list(plan.client.results(plan.lineitem_url))
            members = self._roster_if_needed(plan, [r.user_id for r in results])
        except SERVICE_ERRORS as exc:
            detail = _reason(exc)
            log.warning("gradebook rule %s: %s", rule_id, detail)
            with self.services.database.session() as session:
                rules.record_failure(session, rule_id, detail)
            raise GradebookError(detail) from exc
        with self.services.database.session() as session:
            return rules.apply_results(
                session,
                rule_id,
                results,
                line_item_maximum=line_item.score_maximum if line_item else None,
                roster=members,
            )

    def _roster_if_needed(
        self, plan: _RulePlan, subs: list[str]
    ) -> dict[str, tuple[RosterMember, str]] | None:
        if plan.nrps_url is None:
            return None
        with self.services.database.read_session() as session:
            platform_id = plan.platform_id
            known = {
                sub
                for start in range(0, len(subs), 500)
                for sub in session.scalars(
                    select(User.sub).where(
                        User.platform_id == platform_id, User.sub.in_(subs[start : start + 500])
                    )
                )
            }
            key = self.services.signing_keys.current(session)
        if not set(subs) - known:
            return {}
        return {
            m.sub: (m, primary_role(list(m.roles)))
            for m in roster(plan.registration, self.services.service_tokens, key, plan.nrps_url)
            if m.status.lower() == "active"
        }

    def evaluate_all(self, *, context_id: int | None = None) -> dict[int, str]:
        """Every enabled rule (of one course, if given): rule id -> outcome summary."""
        with self.services.database.read_session() as session:
            query = select(AchievementRule.id).where(AchievementRule.enabled.is_(True))
            if context_id is not None:
                query = query.where(AchievementRule.context_id == context_id)
            ids = list(session.scalars(query.order_by(AchievementRule.id)))
        summaries: dict[int, str] = {}
        for rule_id in ids:
            try:
                outcome = self.evaluate_rule(rule_id)
                summaries[rule_id] = outcome.summary() if outcome else "disabled"
            except GradebookError as exc:
                summaries[rule_id] = str(exc)
        return summaries

    # -- score post-back ----------------------------------------------------------------

    def drain_postbacks(self, limit: int = 50) -> tuple[int, int]:
        """Post due scores: (posted, failed attempts)."""
        with self.services.database.session() as session:
            due = postbacks.claim_due(session, limit)
        posted = failed = 0
        for item in due:
            try:
                self._post(item)
            except _Permanent as exc:
                failed += 1
                self._record_failure(item, str(exc), permanent=True)
            except SERVICE_ERRORS as exc:
                failed += 1
                status = _status(exc)
                permanent = (
                    status is not None
                    and 400 <= status < 500
                    and status
                    not in (
                        401,
                        408,
                        429,
                    )
                )
                self._record_failure(item, _reason(exc), permanent=permanent)
            else:
                posted += 1
                with self.services.database.session() as session:
                    postbacks.record_success(session, item.id)
        return posted, failed

    def _record_failure(self, item: postbacks.DuePostback, error: str, *, permanent: bool) -> None:
        log.warning("score post-back %s (attempt %d): %s", item.id, item.attempts, error)
        with self.services.database.session() as session:
            postbacks.record_failure(session, item.id, error, permanent=permanent)

    def _post(self, item: postbacks.DuePostback) -> None:
        with self.services.database.read_session() as session:
            row = session.get_one(ScorePostback, item.id)
            placement = session.get_one(AchievementPlacement, item.placement_id)
            user = session.get_one(User, row.user_id)
            context = session.get_one(Context, placement.context_id)
            platform = session.get_one(Platform, placement.platform_id)
            key = self.services.signing_keys.current(session)
            registration = PlatformRegistration(platform, lambda: key)
            client = AgsClient(registration, self.services.service_tokens, key)
            lineitem_url = placement.lineitem_url
            resource_id = placement.resource_id
            ags = (context.services or {}).get("ags") or {}
            lineitems_url = ags.get("lineitems") if isinstance(ags, dict) else None
            sub = user.sub
        if not lineitem_url:
            if not isinstance(lineitems_url, str) or not lineitems_url:
                raise _Permanent("the LMS offers no line items service (AGS) for this course")
            found = client.line_items(lineitems_url, resource_id=resource_id)
            if not found:
                raise AgsError(f"no line item with resourceId {resource_id!r} yet")
            lineitem_url = found[0].id
            with self.services.database.session() as session:
                session.get_one(AchievementPlacement, item.placement_id).lineitem_url = lineitem_url
        client.post_score(
            lineitem_url,
            Score(
                user_id=sub,
                timestamp=utcnow(),
                score_given=item.score_given,
                score_maximum=postbacks.SCORE_MAXIMUM,
            ),
        )

    # -- the periodic step ----------------------------------------------------------------

    def run_once(self) -> None:
        self.evaluate_all()
        self.drain_postbacks()


class GradebookError(Exception):
    """The LMS could not give the results; the reason is safe to show."""


class _Permanent(Exception):
    """Retrying cannot help."""


class GradebookSweeper:
    """A background thread: `job.run_once()` every `interval` seconds until stopped."""

    def __init__(self, job: GradebookJob, interval: float) -> None:
        if interval <= 0:
            raise ValueError("the gradebook interval must be positive")
        self.job = job
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> GradebookSweeper:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="gradebook", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.job.run_once()
            except Exception:  # e.g. the database restarting: log and try next time
                log.exception("gradebook sweep failed")
            self.runs += 1
            self._stop.wait(max(self.interval - (time.monotonic() - started), 0.01))
