"""Pathway credentials follow their components: withdrawn when a requirement is lost
(revoked / suspended / expired), reinstated when it is met again, up nested pathways; never
reinstating a credential a person withdrew. Runs on SQLite and, with
MICROCRED_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from lti_tool import migrate
from lti_tool.credentials import InvalidTransition, issuance
from lti_tool.credentials import awards as svc
from lti_tool.credentials.pathway_cascade import (
    PATHWAY_RESTORED,
    PATHWAY_WITHDRAWN,
    withdrawn_by_cascade,
)
from lti_tool.credentials.pathways import define_pathway, evaluate
from lti_tool.db import Database
from lti_tool.models import Achievement, AuditEvent, Award, Pathway, Platform, User, utcnow
from lti_tool.models.pathways import PathwayWithdrawal
from lti_tool.openbadges import statuslist as SL

from .conftest import ADMIN, make_achievement, make_platform, make_user
from .test_concurrency import _race
from .test_pathway_properties import POOL, _remap, reference, trees
from .test_pathways import ach, all_of, any_of, define, give, n_of, sub


def crown(session: Session, pathway: Pathway, learner: User) -> Award | None:
    return svc.find_award(session, pathway.achievement, learner)


def status(session: Session, pathway: Pathway, learner: User) -> str | None:
    found = crown(session, pathway, learner)
    if found is None:
        return None
    session.refresh(found)
    return found.status


def events(session: Session, subject_type: str, subject_id: int) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
            .order_by(AuditEvent.id)
        )
    )


@pytest.fixture
def badges(session: Session, tenant: Platform) -> list[Achievement]:
    return [make_achievement(session, tenant, f"Badge {i}") for i in range(5)]


# -- all-of ---------------------------------------------------------------------------------


def test_revoked_component_revokes_the_pathway_with_reason_and_audit(
    session, tenant, learner, badges
):
    pathway = define(session, tenant, "Data", all_of(ach(badges[0]), ach(badges[1])))
    first = give(session, badges[0], learner)
    give(session, badges[1], learner)
    credential = crown(session, pathway, learner)
    assert credential is not None and credential.status == "active"

    svc.revoke(session, first, reason="plagiarism", actor=ADMIN)

    assert credential.status == "revoked"
    assert credential.status_reason == "requirement no longer met: Badge 0 revoked"
    award_events = events(session, "award", credential.id)
    assert [(e.action, e.actor) for e in award_events][-1] == ("award.revoked", "system")
    assert award_events[-1].reason == "requirement no longer met: Badge 0 revoked"
    assert award_events[-1].data["from"] == "active" and award_events[-1].data["to"] == "revoked"
    withdrawn = events(session, "pathway", pathway.id)[-1]
    assert withdrawn.action == PATHWAY_WITHDRAWN and withdrawn.actor == "system"
    assert withdrawn.data == {
        "user_id": learner.id,
        "award_id": credential.id,
        "from": "active",
        "to": "revoked",
        "cause_award_id": first.id,
        "cause_status": "revoked",
    }
    marker = session.get_one(PathwayWithdrawal, credential.id)
    assert (marker.cause_award_id, marker.cause_status) == (first.id, "revoked")
    # The component's own revocation is the instructor's, not the system's.
    assert events(session, "award", first.id)[-1].actor == "admin:test"


def test_suspended_component_suspends_then_reinstating_it_reinstates(
    session, tenant, learner, badges
):
    pathway = define(session, tenant, "Data", all_of(ach(badges[0]), ach(badges[1])))
    first = give(session, badges[0], learner)
    give(session, badges[1], learner)
    credential = crown(session, pathway, learner)
    assert credential is not None

    svc.suspend(session, first, reason="under review", actor=ADMIN)
    assert credential.status == "suspended"
    assert credential.status_reason == "requirement no longer met: Badge 0 suspended"
    assert withdrawn_by_cascade(session, [credential.id]) == {credential.id}

    svc.reinstate(session, first, actor=ADMIN)
    assert credential.status == "active"
    assert credential.status_reason == "requirement met again: Badge 0 reinstated"
    assert withdrawn_by_cascade(session, [credential.id]) == set()
    last = events(session, "award", credential.id)[-1]
    assert (last.action, last.actor, last.data["from"]) == (
        "award.reinstated",
        "system",
        "suspended",
    )
    restored = events(session, "pathway", pathway.id)[-1]
    assert restored.action == PATHWAY_RESTORED
    assert restored.data["cause_award_id"] == first.id and restored.data["from"] == "suspended"


def test_expired_component_expires_the_pathway_and_another_route_restores_it(
    session, tenant, learner, badges
):
    pathway = define(session, tenant, "Either", any_of(ach(badges[0]), ach(badges[1])))
    first = give(session, badges[0], learner)
    credential = crown(session, pathway, learner)
    assert credential is not None
    now = utcnow()
    first.expires_at = now - timedelta(seconds=1)
    session.flush()

    assert [a.id for a in svc.expire_due(session, now)] == [first.id]
    assert credential.status == "expired"
    assert credential.status_reason == "requirement no longer met: Badge 0 expired"
    assert events(session, "award", credential.id)[-1].action == "award.expired"

    give(session, badges[1], learner)  # met again by the other route
    assert credential.status == "active"
    assert credential.status_reason == "requirement met again: Badge 1 awarded"
    assert evaluate(session, pathway, learner).awarded


def test_nothing_happens_to_pathways_that_do_not_need_the_component(
    session, tenant, learner, badges
):
    pathway = define(session, tenant, "Other", all_of(ach(badges[1])))
    give(session, badges[1], learner)
    unrelated = give(session, badges[0], learner)
    found = crown(session, pathway, learner)
    assert found is not None
    before = len(events(session, "award", found.id))
    svc.revoke(session, unrelated, reason="mistake", actor=ADMIN)
    assert status(session, pathway, learner) == "active"
    assert len(events(session, "award", found.id)) == before


# -- any-of / N-of --------------------------------------------------------------------------


def test_any_of_stays_active_while_another_route_holds(session, tenant, learner, badges):
    pathway = define(session, tenant, "Either", any_of(ach(badges[0]), ach(badges[1])))
    first = give(session, badges[0], learner)
    second = give(session, badges[1], learner)
    svc.revoke(session, first, reason="mistake", actor=ADMIN)
    assert status(session, pathway, learner) == "active"
    svc.suspend(session, second, reason="review", actor=ADMIN)
    assert status(session, pathway, learner) == "suspended"
    svc.reinstate(session, second, actor=ADMIN)
    assert status(session, pathway, learner) == "active"


def test_n_of_follows_the_count(session, tenant, learner, badges):
    pathway = define(
        session, tenant, "Two of three", n_of(2, ach(badges[0]), ach(badges[1]), ach(badges[2]))
    )
    held = [give(session, badges[i], learner) for i in range(3)]
    svc.revoke(session, held[0], reason="mistake", actor=ADMIN)
    assert status(session, pathway, learner) == "active"  # 2 of 3 still
    svc.suspend(session, held[1], reason="review", actor=ADMIN)
    assert status(session, pathway, learner) == "suspended"
    svc.revoke(session, held[2], reason="fraud", actor=ADMIN)
    # Reinstating badge 1 alone would no longer make it whole (0 and 2 are revoked): revoked.
    assert status(session, pathway, learner) == "revoked"
    svc.reinstate(session, held[1], actor=ADMIN)
    assert status(session, pathway, learner) == "revoked"  # revocation is final


def test_mildest_cause_wins_so_the_pathway_can_come_back(session, tenant, learner, badges):
    pathway = define(session, tenant, "Either", any_of(ach(badges[0]), ach(badges[1])))
    first = give(session, badges[0], learner)
    second = give(session, badges[1], learner)
    svc.suspend(session, first, reason="review", actor=ADMIN)
    svc.revoke(session, second, reason="fraud", actor=ADMIN)
    # Reinstating badge 0 would make it whole: suspended, not revoked.
    assert status(session, pathway, learner) == "suspended"
    found = crown(session, pathway, learner)
    assert found is not None
    assert found.status_reason == "requirement no longer met: Badge 1 revoked"
    svc.reinstate(session, first, actor=ADMIN)
    assert status(session, pathway, learner) == "active"


def test_a_withdrawal_escalates_but_never_softens(session, tenant, learner, badges):
    pathway = define(session, tenant, "Both", all_of(ach(badges[0]), ach(badges[1])))
    first = give(session, badges[0], learner)
    second = give(session, badges[1], learner)
    svc.suspend(session, first, reason="review", actor=ADMIN)
    assert status(session, pathway, learner) == "suspended"
    svc.revoke(session, second, reason="fraud", actor=ADMIN)
    assert status(session, pathway, learner) == "revoked"
    found = crown(session, pathway, learner)
    assert found is not None
    assert [e.data["to"] for e in events(session, "award", found.id)[1:]] == [
        "suspended",
        "revoked",
    ]
    svc.reinstate(session, first, actor=ADMIN)
    assert status(session, pathway, learner) == "revoked"


# -- nested ---------------------------------------------------------------------------------


def test_cascade_travels_up_nested_pathways_and_back(session, tenant, learner, badges):
    inner = define(session, tenant, "Inner", all_of(ach(badges[0]), ach(badges[1])))
    middle = define(session, tenant, "Middle", all_of(sub(inner), ach(badges[2])))
    outer = define(session, tenant, "Outer", any_of(sub(middle), ach(badges[3])))
    first = give(session, badges[0], learner)
    give(session, badges[1], learner)
    give(session, badges[2], learner)
    assert [status(session, p, learner) for p in (inner, middle, outer)] == ["active"] * 3

    svc.suspend(session, first, reason="review", actor=ADMIN)
    assert [status(session, p, learner) for p in (inner, middle, outer)] == ["suspended"] * 3
    middle_crown = crown(session, middle, learner)
    assert middle_crown is not None
    assert middle_crown.status_reason == "requirement no longer met: Inner suspended"

    svc.reinstate(session, first, actor=ADMIN)
    assert [status(session, p, learner) for p in (inner, middle, outer)] == ["active"] * 3

    give(session, badges[3], learner)  # outer now also holds by its own route
    svc.revoke(session, first, reason="fraud", actor=ADMIN)
    assert [status(session, p, learner) for p in (inner, middle, outer)] == [
        "revoked",
        "revoked",
        "active",
    ]


# -- people's decisions stand --------------------------------------------------------------


def test_a_pathway_revoked_by_hand_is_not_brought_back(session, tenant, learner, badges):
    pathway = define(session, tenant, "Either", any_of(ach(badges[0]), ach(badges[1])))
    give(session, badges[0], learner)
    found = crown(session, pathway, learner)
    assert found is not None
    svc.revoke(session, found, reason="misconduct", actor=ADMIN)
    give(session, badges[1], learner)
    assert status(session, pathway, learner) == "revoked"
    assert found.status_reason == "misconduct"


def test_a_pathway_suspended_by_hand_is_not_reinstated_by_the_cascade(
    session, tenant, learner, badges
):
    pathway = define(session, tenant, "One", all_of(ach(badges[0])))
    component = give(session, badges[0], learner)
    found = crown(session, pathway, learner)
    assert found is not None
    svc.suspend(session, found, reason="appeal pending", actor=ADMIN)
    svc.suspend(session, component, reason="review", actor=ADMIN)
    assert found.status == "suspended" and found.status_reason == "appeal pending"
    svc.reinstate(session, component, actor=ADMIN)
    assert found.status == "suspended" and found.status_reason == "appeal pending"
    assert withdrawn_by_cascade(session, [found.id]) == set()


def test_a_person_taking_over_a_cascade_withdrawal_keeps_it(session, tenant, learner, badges):
    pathway = define(session, tenant, "One", all_of(ach(badges[0])))
    component = give(session, badges[0], learner)
    svc.suspend(session, component, reason="review", actor=ADMIN)
    found = crown(session, pathway, learner)
    assert found is not None and withdrawn_by_cascade(session, [found.id]) == {found.id}
    svc.revoke(session, found, reason="confirmed misconduct", actor=ADMIN)
    assert withdrawn_by_cascade(session, [found.id]) == set()
    svc.reinstate(session, component, actor=ADMIN)
    assert found.status == "revoked" and found.status_reason == "confirmed misconduct"


def test_a_hand_reinstated_pathway_is_left_alone_until_the_next_loss(
    session, tenant, learner, badges
):
    pathway = define(session, tenant, "Both", all_of(ach(badges[0]), ach(badges[1])))
    first = give(session, badges[0], learner)
    second = give(session, badges[1], learner)
    svc.suspend(session, first, reason="review", actor=ADMIN)
    found = crown(session, pathway, learner)
    assert found is not None
    svc.reinstate(session, found, actor=ADMIN, reason="instructor override")
    assert found.status == "active" and withdrawn_by_cascade(session, [found.id]) == set()
    svc.suspend(session, second, reason="review", actor=ADMIN)  # the next loss: cascade again
    assert found.status == "suspended"


def test_archived_pathways_are_left_as_they_are(session, tenant, learner, badges):
    from lti_tool.credentials.pathways import archive_pathway

    pathway = define(session, tenant, "Old", all_of(ach(badges[0])))
    component = give(session, badges[0], learner)
    archive_pathway(session, pathway, actor=ADMIN)
    svc.revoke(session, component, reason="mistake", actor=ADMIN)
    assert status(session, pathway, learner) == "active"


# -- every award listener sees the cascade -------------------------------------------------


def test_award_listeners_see_each_cascaded_change(session, tenant, learner, badges):
    pathway = define(session, tenant, "One", all_of(ach(badges[0])))
    component = give(session, badges[0], learner)
    found = crown(session, pathway, learner)
    assert found is not None
    seen: list[tuple[int, str]] = []

    def record(_s: Session, award: Award, event_type: str) -> None:
        seen.append((award.id, event_type))

    svc.award_listeners.append(record)
    try:
        svc.suspend(session, component, reason="review", actor=ADMIN)
        svc.reinstate(session, component, actor=ADMIN)
        svc.revoke(session, component, reason="fraud", actor=ADMIN)
    finally:
        svc.award_listeners.remove(record)
    assert seen == [
        (component.id, "award.suspended"),
        (found.id, "award.suspended"),
        (component.id, "award.reinstated"),
        (found.id, "award.reinstated"),
        (component.id, "award.revoked"),
        (found.id, "award.revoked"),
    ]


def _published_bit(client: FlaskClient, entry: dict[str, Any], purpose: str, index: int) -> bool:
    url = entry["statusListCredential"]
    number = urlsplit(url).path.rsplit("/", 1)[1]
    listed = client.get(f"/status/{purpose}/{number}").get_json()
    return SL.Bitstring.decode(listed["credentialSubject"]["encodedList"]).get(index)


def test_status_lists_follow_the_pathway_credential(app: Flask, client: FlaskClient, database):
    with database.session() as s:
        platform = make_platform(s)
        learner = make_user(s, platform, "sl", email="sl@example.edu")
        badge = make_achievement(s, platform, "Component")
        pathway = define_pathway(
            s, platform, {"name": "Program", "requirements": all_of(ach(badge))}, actor=ADMIN
        )
        component = give(s, badge, learner)
        found = crown(s, pathway, learner)
        assert found is not None
        ids = (component.id, found.id)
    with database.session() as s:
        issued = issuance.credential_of_award(s, ids[1])
        assert issued is not None
        document, revocation_index = issued.credential, issued.revocation_index
        suspension_number = issued.suspension_list.number
        suspension_index = issued.suspension_index
    entry = document["credentialStatus"]

    def suspended_bit() -> bool:
        listed = client.get(f"/status/suspension/{suspension_number}").get_json()
        bits = SL.Bitstring.decode(listed["credentialSubject"]["encodedList"])
        return bits.get(suspension_index)

    assert client.post("/verify", json=document).get_json()["verified"] is True
    with database.session() as s:
        svc.suspend(s, s.get_one(Award, ids[0]), reason="review", actor=ADMIN)
    assert suspended_bit() is True
    assert client.post("/verify", json=document).get_json()["status"] == "suspended"
    with database.session() as s:
        svc.reinstate(s, s.get_one(Award, ids[0]), actor=ADMIN)
    assert suspended_bit() is False
    assert client.post("/verify", json=document).get_json()["verified"] is True
    assert _published_bit(client, entry, "revocation", revocation_index) is False
    with database.session() as s:
        svc.revoke(s, s.get_one(Award, ids[0]), reason="fraud", actor=ADMIN)
    assert _published_bit(client, entry, "revocation", revocation_index) is True
    answer = client.post("/verify", json=document).get_json()
    assert answer["verified"] is False and answer["status"] == "revoked"
    with database.session() as s:
        row = issuance.credential_of_award(s, ids[1])
        assert row is not None and issuance.live_status(row) == issuance.REVOKED


# -- concurrency -----------------------------------------------------------------------------


def _two_routes(database: Database) -> tuple[int, int, list[int]]:
    with database.session() as s:
        platform = make_platform(s)
        learner = make_user(s, platform, "racer")
        a = make_achievement(s, platform, "A")
        b = make_achievement(s, platform, "B")
        pathway = define_pathway(
            s, platform, {"name": "A or B", "requirements": any_of(ach(a), ach(b))}, actor=ADMIN
        )
        held = [give(s, a, learner).id, give(s, b, learner).id]
        found = crown(s, pathway, learner)
        assert found is not None
        return learner.id, found.id, held


def test_both_routes_lost_at_once_still_withdraw_the_pathway(database: Database):
    """Write skew guard: A and B revoked concurrently must not each see the other still
    active and both leave the pathway standing (the learner lock serialises them)."""
    _user_id, crown_id, held = _two_routes(database)
    meet = threading.Barrier(2)

    def widen_window(_s: Any, _award: Award, _event: str) -> None:
        # Without the lock both transactions meet here, each with its component revoked but
        # not committed, and then both evaluate the pathway at once. With it, the second one
        # waits for the learner's row, the first gives up waiting after a second.
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=1)

    def revoke(award_id: int) -> Any:
        return lambda s: svc.revoke(s, s.get_one(Award, award_id), reason="race", actor=ADMIN).id

    svc.award_listeners.append(widen_window)
    try:
        _race(database, [revoke(held[0]), revoke(held[1])])
    finally:
        svc.award_listeners.remove(widen_window)
    with database.session() as s:
        assert s.get_one(Award, crown_id).status == "revoked"


def test_component_and_pathway_changed_at_once_do_not_deadlock(database: Database):
    """One transaction revokes a component (the cascade then needs the pathway's row), the
    other suspends the pathway by hand: both take the learner's lock first, so neither waits
    for the other in a cycle."""
    _user_id, crown_id, held = _two_routes(database)
    with database.session() as s:  # leave B out: revoking A alone loses the pathway
        svc.revoke(s, s.get_one(Award, held[1]), reason="setup", actor=ADMIN)

    def widen_window(_s: Any, _award: Award, _event: str) -> None:
        threading.Event().wait(0.2)

    def revoke_component(s: Session) -> str:
        svc.revoke(s, s.get_one(Award, held[0]), reason="race", actor=ADMIN)
        return "revoked"

    def suspend_pathway(s: Session) -> str:
        try:
            svc.suspend(s, s.get_one(Award, crown_id), reason="by hand", actor=ADMIN)
        except InvalidTransition:  # the cascade won and revoked it first
            return "lost"
        return "suspended"

    svc.award_listeners.append(widen_window)
    try:
        outcomes = _race(database, [revoke_component, suspend_pathway])
    finally:
        svc.award_listeners.remove(widen_window)
    with database.session() as s:
        final = s.get_one(Award, crown_id)
        if outcomes[1] == "lost":
            assert final.status == "revoked"
        else:  # the person was first: their suspension stands, the cascade leaves it
            assert (final.status, final.status_reason) == ("suspended", "by hand")


# -- property --------------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        # Suspensions and reinstatements weigh more: they are the round trips.
        st.sampled_from(["award", "revoke", "suspend", "suspend", "reinstate", "expire"]),
        st.integers(0, POOL - 1),
    ),
    max_size=14,
)


def _apply(s: Session, learner: User, pool: list[Achievement], op: str, slot: int) -> None:
    existing = svc.find_award(s, pool[slot], learner)
    if op == "award":
        svc.award(s, pool[slot], learner, source="rule", actor="rule:prop")
        return
    if existing is None:
        return
    s.refresh(existing)
    if op == "revoke" and existing.status in ("active", "suspended"):
        svc.revoke(s, existing, reason="prop", actor=ADMIN)
    elif op == "suspend" and existing.status == "active":
        svc.suspend(s, existing, reason="prop", actor=ADMIN)
    elif op == "reinstate" and existing.status == "suspended":
        svc.reinstate(s, existing, actor=ADMIN)
    elif op == "expire" and existing.status == "active":
        now = utcnow()
        existing.expires_at = now - timedelta(seconds=1)
        s.flush()
        svc.expire_due(s, now)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tree=trees(max_leaves=6),
    outer_kind=st.sampled_from(["all_of", "any_of"]),
    outer_slot=st.integers(0, POOL - 1),
    start=st.sets(st.integers(0, POOL - 1)),
    ops=OPS,
)
def test_pathways_always_agree_with_their_components(
    database: Database,
    tree: dict[str, Any],
    outer_kind: str,
    outer_slot: int,
    start: set[int],
    ops: list[tuple[str, int]],
):
    """After any sequence of changes to components: every active pathway credential is met
    by the learner's active awards; every credential the cascade withdrew (and did not
    revoke) is not met, else it would be active again; a revoked one never comes back."""
    s = database.sessionmaker()  # one transaction per example, rolled back
    try:
        platform = make_platform(s)
        learner = make_user(s, platform, "prop")
        pool = [make_achievement(s, platform, f"A{i}") for i in range(POOL)]
        ids = [a.id for a in pool]
        inner = define_pathway(
            s, platform, {"name": "Inner", "requirements": _remap(tree, ids)}, actor=ADMIN
        )
        outer = define_pathway(
            s,
            platform,
            {
                "name": "Outer",
                "requirements": {
                    "kind": outer_kind,
                    "children": [sub(inner), ach(pool[outer_slot])],
                },
            },
            actor=ADMIN,
        )
        revoked: set[int] = set()
        # Award a starting set, apply the random changes, then reinstate every suspended one.
        steps = [("award", slot) for slot in sorted(start)] + ops
        steps += [("reinstate", slot) for slot in range(POOL)]
        for op, slot in steps:
            _apply(s, learner, pool, op, slot)
            for pathway in (inner, outer):
                progress = evaluate(s, pathway, learner, expand=False)
                found = crown(s, pathway, learner)
                if found is None:
                    assert not progress.complete  # the auto-award would have made it
                    continue
                s.refresh(found)
                if found.status == "active":
                    assert progress.complete, (pathway.name, ops)
                elif found.id in withdrawn_by_cascade(s, [found.id]):
                    if found.status == "revoked":
                        revoked.add(found.id)
                    else:
                        assert not progress.complete, (pathway.name, found.status, ops)
                if found.id in revoked:
                    assert found.status == "revoked"
        # Cross-check the inner tree against the independent reference evaluator.
        held_slots = {i for i, a in enumerate(pool) if a.id in svc.held_achievement_ids(s, learner)}
        assert evaluate(s, inner, learner).complete == reference(tree, held_slots)
    finally:
        s.rollback()
        s.close()


# -- migration -------------------------------------------------------------------------------


def test_0006_cascade_goes_down_and_up_again(tmp_path: Path):
    from alembic import command

    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        migrate.upgrade(database)
        assert "pathway_withdrawals" in inspect(database.engine).get_table_names()
        config = migrate.alembic_config(database)
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006_cascade-1")
        assert "pathway_withdrawals" not in inspect(database.engine).get_table_names()
        migrate.upgrade(database)
        assert migrate.pending_revisions(database) == []
    finally:
        database.dispose()
