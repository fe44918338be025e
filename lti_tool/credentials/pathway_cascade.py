"""Pathway credentials follow their components: withdrawn when a requirement is lost,
reinstated when it is met again — in the transaction of the component's change.

When an award stops being active, every live pathway that depends on it is evaluated again
against the learner's *active* awards. A pathway whose tree is still met (another route of an
any-of / N-of) keeps its credential. Otherwise its credential takes the mildest status that
explains the loss:

* **suspended** when the tree would be met again if suspended components were reinstated;
* **expired** when it would be met only by counting expired components too;
* **revoked** otherwise (a component it cannot do without was revoked).

So a revoked component revokes the pathway, a suspended one suspends it and an expired one
expires it, unless a milder cause also explains the loss (any-of(A, B) with A suspended and B
revoked is suspended: reinstating A brings it back).

Expired, not revoked, for an expired component: a lapsed validity is not misconduct, and
"expired" tells a reader exactly that; unlike a revocation (which the Bitstring Status List
makes irreversible: the bit is never cleared) an expiry can be undone, so the pathway comes
back by itself when the learner meets its requirements again by another route. Revocation by
the cascade is final like every revocation; a cascade-revoked pathway is not reinstated.

Each withdrawal and reinstatement goes through ``awards._transition`` (audit event with actor
``system`` and the cascade as the reason, status list bits, sync outbox, every award
listener), records a ``pathway.withdrawn`` / ``pathway.restored`` audit event naming the
component, and keeps a `PathwayWithdrawal` row while the withdrawal stands: only credentials
withdrawn by the cascade are ever reinstated by it, never one a person withdrew. A withdrawn
pathway credential is itself a component of the pathways that contain it, so the cascade
travels up nested pathways through the same hooks.

Concurrency: everything runs under the learner's row lock (``awards._lock_learner``, taken by
every award and every transition before any award row), so two changes of one learner's
awards at once are evaluated one after the other, each seeing the other's committed result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from lti_tool.models import Award, Pathway, utcnow
from lti_tool.models.awards import (
    STATUS_ACTIVE,
    STATUS_EXPIRED,
    STATUS_REVOKED,
    STATUS_SUSPENDED,
)
from lti_tool.models.pathways import PathwayWithdrawal

from . import audit
from .audit import SYSTEM

PATHWAY_WITHDRAWN = "pathway.withdrawn"
PATHWAY_RESTORED = "pathway.restored"

#: How far a withdrawal goes; the cascade only ever moves a credential further down this.
_SEVERITY = {STATUS_ACTIVE: 0, STATUS_SUSPENDED: 1, STATUS_EXPIRED: 2, STATUS_REVOKED: 3}


@dataclass(frozen=True)
class Holdings:
    """A learner's achievement ids by what their awards are right now."""

    active: frozenset[int]
    suspended: frozenset[int]
    expired: frozenset[int]


def holdings(session: Session, user_id: int, *, at: datetime | None = None) -> Holdings:
    at = at or utcnow()
    active: set[int] = set()
    suspended: set[int] = set()
    expired: set[int] = set()
    rows = session.execute(
        select(Award.achievement_id, Award.status, Award.expires_at).where(
            Award.user_id == user_id,
            Award.status.in_((STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_EXPIRED)),
        )
    )
    for achievement_id, status, expires_at in rows:
        if status == STATUS_SUSPENDED:
            suspended.add(achievement_id)
        elif status == STATUS_EXPIRED or (expires_at is not None and expires_at <= at):
            expired.add(achievement_id)
        else:
            active.add(achievement_id)
    return Holdings(frozenset(active), frozenset(suspended), frozenset(expired))


def required_status(session: Session, pathway: Pathway, held: Holdings) -> str:
    """The status the pathway's credential should have given `held`: active when the tree is
    met by active awards, else the mildest withdrawal that explains why not."""
    from .pathways import evaluate_tree, load_tree

    tree = load_tree(session, pathway)
    subs = {leaf.pathway_id for leaf in tree.leaves() if leaf.pathway_id is not None}
    credential_of: dict[int, int] = {}
    if subs:
        for pathway_id, achievement_id in session.execute(
            select(Pathway.id, Pathway.achievement_id).where(Pathway.id.in_(subs))
        ):
            credential_of[pathway_id] = achievement_id
    counted: frozenset[int] = frozenset()
    for status, more in (
        (STATUS_ACTIVE, held.active),
        (STATUS_SUSPENDED, held.suspended),
        (STATUS_EXPIRED, held.expired),
    ):
        counted |= more
        if evaluate_tree(tree, counted, credential_of).done:
            return status
    return STATUS_REVOKED


def withdrawn_by_cascade(session: Session, award_ids: Iterable[int]) -> set[int]:
    """Which of these awards stand withdrawn by the cascade."""
    ids = list(award_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(PathwayWithdrawal.award_id).where(PathwayWithdrawal.award_id.in_(ids))
        )
    )


def forget(session: Session, award_id: int) -> None:
    """The award changed status: whatever it is now, the cascade no longer owns it."""
    session.execute(delete(PathwayWithdrawal).where(PathwayWithdrawal.award_id == award_id))


def _cause(component: Award) -> str:
    return f"{component.achievement.name} {component.status}"


def _withdraw(session: Session, pathway: Pathway, crown: Award, to: str, component: Award) -> None:
    from .awards import AWARD_EXPIRED, AWARD_REVOKED, AWARD_SUSPENDED, _transition

    action, verb = {
        STATUS_SUSPENDED: (AWARD_SUSPENDED, "suspend"),
        STATUS_EXPIRED: (AWARD_EXPIRED, "expire"),
        STATUS_REVOKED: (AWARD_REVOKED, "revoke"),
    }[to]
    reason = f"requirement no longer met: {_cause(component)}"
    previous = crown.status
    allowed = tuple(s for s, level in _SEVERITY.items() if level < _SEVERITY[to])
    # Its own hooks run inside: the marker is cleared and the pathways above follow.
    _transition(
        session,
        crown,
        allowed=allowed,
        to=to,
        action=action,
        verb=verb,
        actor=SYSTEM,
        reason=reason,
    )
    session.execute(
        insert(PathwayWithdrawal).values(
            award_id=crown.id,
            platform_id=crown.platform_id,
            pathway_id=pathway.id,
            cause_award_id=component.id,
            cause_status=component.status,
            withdrawn_at=crown.status_changed_at or utcnow(),
        )
    )
    audit.record(
        session,
        platform_id=pathway.platform_id,
        actor=SYSTEM,
        action=PATHWAY_WITHDRAWN,
        subject_type="pathway",
        subject_id=pathway.id,
        reason=reason,
        data={
            "user_id": crown.user_id,
            "award_id": crown.id,
            "from": previous,
            "to": to,
            "cause_award_id": component.id,
            "cause_status": component.status,
        },
    )
    session.flush()


def after_withdrawal(session: Session, withdrawn: Award) -> None:
    """`withdrawn` stopped being active (revoked, suspended, expired): withdraw the credentials
    of the pathways that no longer hold without it (see the module docstring)."""
    from .awards import _lock_learner
    from .pathways import _dependent_pathways

    forget(session, withdrawn.id)
    pathways = _dependent_pathways(session, withdrawn.achievement_id, withdrawn.platform_id)
    if not pathways:
        return
    _lock_learner(session, withdrawn.learner)
    crowns = {
        crown.achievement_id: crown
        for crown in session.scalars(
            select(Award)
            .where(
                Award.user_id == withdrawn.user_id,
                Award.achievement_id.in_([p.achievement_id for p in pathways]),
            )
            .execution_options(populate_existing=True)
        )
    }
    for pathway in pathways:
        crown = crowns.get(pathway.achievement_id)
        if crown is None or crown.status == STATUS_REVOKED:
            continue
        if crown.status != STATUS_ACTIVE and crown.id not in withdrawn_by_cascade(
            session, [crown.id]
        ):
            continue  # withdrawn by a person (or by its own expiry): not the cascade's
        # Fresh every time: an earlier pathway of this loop may have withdrawn a credential.
        to = required_status(session, pathway, holdings(session, withdrawn.user_id))
        if _SEVERITY[to] > _SEVERITY[crown.status]:
            _withdraw(session, pathway, crown, to, withdrawn)


def restore_if_withdrawn(
    session: Session, pathway: Pathway, crown: Award, *, cause: Award | None = None
) -> Award | None:
    """The pathway's tree is met again by active awards: reinstate its credential `crown` if
    the cascade withdrew it (not if a person did, not after a revocation, not past its own
    validity). The caller holds the learner's lock and has checked the tree."""
    from .awards import AWARD_REINSTATED, _transition

    if crown.id not in withdrawn_by_cascade(session, [crown.id]):
        return None
    session.refresh(crown)
    if crown.status not in (STATUS_SUSPENDED, STATUS_EXPIRED):
        return None
    if crown.expires_at is not None and crown.expires_at <= utcnow():
        return None
    previous = crown.status
    reason = (
        f"requirement met again: {cause.achievement.name} "
        + ("awarded" if cause.status_changed_at is None else "reinstated")
        if cause is not None
        else "requirement met again"
    )
    forget(session, crown.id)
    _transition(
        session,
        crown,
        allowed=(previous,),
        to=STATUS_ACTIVE,
        action=AWARD_REINSTATED,
        verb="reinstate",
        actor=SYSTEM,
        reason=reason,
    )
    audit.record(
        session,
        platform_id=pathway.platform_id,
        actor=SYSTEM,
        action=PATHWAY_RESTORED,
        subject_type="pathway",
        subject_id=pathway.id,
        reason=reason,
        data={
            "user_id": crown.user_id,
            "award_id": crown.id,
            "from": previous,
            "to": STATUS_ACTIVE,
            "cause_award_id": cause.id if cause is not None else None,
        },
    )
    session.flush()
    return crown
