"""Pathways: definition checks, cycles, progress and auto-award (also recursive)."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.credentials import (
    AchievementArchived,
    PathwayCycle,
    PathwayInvalid,
    TenantMismatch,
)
from lti_tool.credentials import awards as svc
from lti_tool.credentials.achievements import archive_achievement
from lti_tool.credentials.pathways import (
    archive_pathway,
    award_if_complete,
    define_pathway,
    evaluate,
    learner_progress,
    update_pathway,
)
from lti_tool.db import Database
from lti_tool.models import Achievement, AuditEvent, Award, Pathway, Platform, User

from .conftest import ADMIN, make_achievement, make_platform, make_user


def ach(a: Achievement) -> dict[str, Any]:
    return {"kind": "achievement", "achievement_id": a.id}


def sub(p: Pathway) -> dict[str, Any]:
    return {"kind": "pathway", "pathway_id": p.id}


def all_of(*children: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "all_of", "children": list(children)}


def any_of(*children: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "any_of", "children": list(children)}


def n_of(n: int, *children: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "n_of", "required_count": n, "children": list(children)}


def define(session: Session, platform: Platform, name: str, tree: dict[str, Any]) -> Pathway:
    return define_pathway(session, platform, {"name": name, "requirements": tree}, actor=ADMIN)


def give(session: Session, a: Achievement, learner: User) -> Award:
    award, _ = svc.award(session, a, learner, source="manual", actor=ADMIN)
    return award


def holds(session: Session, learner: User, a: Achievement) -> bool:
    return a.id in svc.held_achievement_ids(session, learner)


@pytest.fixture
def badges(session: Session, tenant: Platform) -> list[Achievement]:
    return [make_achievement(session, tenant, f"Badge {i}") for i in range(6)]


def test_define_creates_a_learning_program_credential(session, tenant, badges):
    pathway = define(session, tenant, "Data analyst", all_of(ach(badges[0]), ach(badges[1])))
    assert pathway.achievement.achievement_type == "LearningProgram"
    assert pathway.achievement.name == "Data analyst"
    assert [n.kind for n in pathway.nodes] == ["all_of", "achievement", "achievement"]
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["achievement.created", "pathway.created"]


def test_nested_all_any_n_of_and_progress(session, tenant, learner, badges):
    b = badges
    tree = all_of(ach(b[0]), any_of(ach(b[1]), ach(b[2])), n_of(2, ach(b[3]), ach(b[4]), ach(b[5])))
    pathway = define(session, tenant, "Stack", tree)
    progress = evaluate(session, pathway, learner)
    assert (progress.complete, progress.percent, progress.leaves_done, progress.leaves_total) == (
        False,
        0,
        0,
        6,
    )
    give(session, b[0], learner)
    give(session, b[3], learner)
    progress = evaluate(session, pathway, learner)
    root = progress.root
    assert (root.required, root.completed, root.done) == (3, 1, False)
    any_node, n_node = root.children[1], root.children[2]
    assert (any_node.label, any_node.required, any_node.completed) == ("Any one of", 1, 0)
    assert (n_node.label, n_node.required, n_node.completed, n_node.percent) == ("2 of 3", 2, 1, 50)
    assert progress.percent == (100 + 0 + 50) // 3
    assert progress.missing_achievement_ids == (b[1].id, b[2].id, b[4].id, b[5].id)
    assert root.children[0].label == "Badge 0" and root.children[0].done
    give(session, b[2], learner)
    assert not holds(session, learner, pathway.achievement)
    give(session, b[5], learner)  # completes n_of, hence the pathway
    assert holds(session, learner, pathway.achievement)
    progress = evaluate(session, pathway, learner)
    assert (progress.complete, progress.awarded, progress.percent) == (True, True, 100)
    credential_award = svc.find_award(session, pathway.achievement, learner)
    assert credential_award is not None
    assert credential_award.source == "pathway"
    event = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "award.created", AuditEvent.subject_id == credential_award.id
        )
    ).one()
    assert event.actor == f"pathway:{pathway.id}"
    completed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "pathway.completed")
    ).one()
    assert completed.data == {"user_id": learner.id, "award_id": credential_award.id}


def test_auto_award_is_in_the_same_transaction(database: Database):
    with database.session() as s:
        platform = make_platform(s)
        user = make_user(s, platform, "u")
        a = make_achievement(s, platform, "A")
        pathway = define(s, platform, "Only A", all_of(ach(a)))
        ids = (user.id, a.id, pathway.achievement_id)
    s = database.sessionmaker()
    give(s, s.get_one(Achievement, ids[1]), s.get_one(User, ids[0]))
    assert s.scalar(select(func.count()).select_from(Award)) == 2  # A and the pathway
    s.rollback()
    s.close()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Award)) == 0


def test_recursive_sub_pathway_completion(session, tenant, learner, badges):
    b = badges
    inner = define(session, tenant, "Inner", all_of(ach(b[0]), ach(b[1])))
    middle = define(session, tenant, "Middle", all_of(sub(inner), ach(b[2])))
    outer = define(session, tenant, "Outer", any_of(sub(middle), ach(b[5])))
    # Another pathway that uses the inner credential as a plain achievement leaf.
    sibling = define(session, tenant, "Sibling", all_of(ach(inner.achievement)))
    give(session, b[2], learner)
    give(session, b[0], learner)
    progress = evaluate(session, outer, learner)
    middle_leaf = progress.root.children[0]
    assert middle_leaf.kind == "pathway" and middle_leaf.label == "Middle"
    inner_tree = middle_leaf.children[0]  # the expanded Middle tree
    assert inner_tree.children[0].children[0].completed == 1  # Inner: 1 of 2
    assert progress.percent == min(middle_leaf.percent, 99) and not progress.complete
    give(session, b[1], learner)  # Inner -> Middle -> Outer, and Sibling, all at once
    for pathway in (inner, middle, outer, sibling):
        assert holds(session, learner, pathway.achievement), pathway.name
    sources = session.scalars(
        select(Award.source).where(
            Award.achievement_id.in_([p.achievement_id for p in (inner, middle, outer, sibling)])
        )
    ).all()
    assert sources == ["pathway"] * 4
    assert evaluate(session, outer, learner).percent == 100


def test_suspended_component_does_not_count_and_reinstating_completes(
    session, tenant, learner, badges
):
    pathway = define(session, tenant, "Two", all_of(ach(badges[0]), ach(badges[1])))
    first = give(session, badges[0], learner)
    svc.suspend(session, first, reason="review", actor=ADMIN)
    give(session, badges[1], learner)
    assert not holds(session, learner, pathway.achievement)
    svc.reinstate(session, first, actor=ADMIN)
    assert holds(session, learner, pathway.achievement)


def test_revoking_a_component_revokes_the_pathway_credential(session, tenant, learner, badges):
    pathway = define(session, tenant, "One", all_of(ach(badges[0])))
    award = give(session, badges[0], learner)
    svc.revoke(session, award, reason="mistake", actor=ADMIN)
    # The credential follows its component (tests/credentials/test_pathway_cascade.py).
    assert not holds(session, learner, pathway.achievement)
    assert evaluate(session, pathway, learner).complete is False


def test_revoked_pathway_credential_is_not_reissued(session, tenant, learner, badges):
    pathway = define(session, tenant, "Any", any_of(ach(badges[0]), ach(badges[1])))
    give(session, badges[0], learner)
    credential = svc.find_award(session, pathway.achievement, learner)
    assert credential is not None
    svc.revoke(session, credential, reason="misconduct", actor=ADMIN)
    give(session, badges[1], learner)
    assert credential.status == "revoked"
    assert (
        session.scalar(select(func.count()).where(Award.achievement_id == pathway.achievement_id))
        == 1
    )


def test_archived_pathway_does_not_auto_award(session, tenant, learner, badges):
    pathway = define(session, tenant, "Old", all_of(ach(badges[0])))
    archive_pathway(session, pathway, actor=ADMIN)
    give(session, badges[0], learner)
    assert not holds(session, learner, pathway.achievement)
    with pytest.raises(PathwayInvalid, match="archived"):
        define(session, tenant, "Uses old", all_of(sub(pathway)))


def test_pathway_defined_after_the_fact(session, tenant, learner, badges):
    give(session, badges[0], learner)
    pathway = define(session, tenant, "Late", all_of(ach(badges[0])))
    assert not holds(session, learner, pathway.achievement)
    made = award_if_complete(session, pathway, learner)
    assert made is not None and holds(session, learner, pathway.achievement)
    assert award_if_complete(session, pathway, learner) is None  # idempotent


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_cycles_refused_at_any_depth(session, tenant, badges, depth):
    chain = [define(session, tenant, "P0", all_of(ach(badges[0])))]
    for i in range(1, depth + 1):
        chain.append(define(session, tenant, f"P{i}", all_of(sub(chain[-1]), ach(badges[i]))))
    # P0 now wants the top of the chain: P0 -> P<depth> -> ... -> P0
    with pytest.raises(PathwayCycle, match="'P0' would contain itself") as info:
        update_pathway(session, chain[0], {"requirements": all_of(sub(chain[-1]))}, actor=ADMIN)
    expected = " -> ".join(f"'P{i}'" for i in [0, *range(depth, 0, -1), 0])
    assert expected in str(info.value)
    # Unchanged tree after the refusal:
    assert [n.achievement_id for n in chain[0].nodes if n.kind == "achievement"] == [badges[0].id]


def test_cycle_through_a_credential_used_as_achievement(session, tenant, badges):
    p1 = define(session, tenant, "P1", all_of(ach(badges[0])))
    p2 = define(session, tenant, "P2", all_of(ach(p1.achievement)))
    with pytest.raises(PathwayCycle, match="'P1' -> 'P2' -> 'P1'"):
        update_pathway(session, p1, {"requirements": all_of(ach(p2.achievement))}, actor=ADMIN)
    with pytest.raises(PathwayCycle):
        update_pathway(session, p1, {"requirements": all_of(ach(p1.achievement))}, actor=ADMIN)
    # A new pathway crowned by an existing credential that its own tree leads back to:
    with pytest.raises(PathwayCycle):
        define_pathway(
            session,
            tenant,
            {"name": "P3", "requirements": all_of(sub(p2))},
            actor=ADMIN,
            credential=badges[0],  # P3 -> P2 -> P1 -> badge 0 (= P3's credential)
        )


def test_diamond_is_not_a_cycle(session, tenant, learner, badges):
    base = define(session, tenant, "Base", all_of(ach(badges[0])))
    left = define(session, tenant, "Left", all_of(sub(base)))
    right = define(session, tenant, "Right", all_of(sub(base)))
    top = define(session, tenant, "Top", all_of(sub(left), sub(right)))
    give(session, badges[0], learner)
    assert holds(session, learner, top.achievement)


@pytest.mark.parametrize(
    ("tree", "field_text"),
    [
        ({"kind": "all_of", "children": []}, "at least one child"),
        (
            {
                "kind": "n_of",
                "required_count": 3,
                "children": [{"kind": "pathway", "pathway_id": 1}],
            },
            "between 1 and 1",
        ),
        ({"kind": "achievement"}, "needs achievement_id"),
        ({"kind": "pathway"}, "needs pathway_id"),
        ({"kind": "some_of", "children": []}, "Must be one of"),
        (
            {
                "kind": "any_of",
                "required_count": 1,
                "children": [{"kind": "pathway", "pathway_id": 1}],
            },
            "only an n_of",
        ),
    ],
)
def test_tree_validation(session, tenant, tree, field_text):
    with pytest.raises(ValidationError) as info:
        define(session, tenant, "Bad", tree)
    assert field_text in str(info.value.messages)


def test_name_required(session, tenant, badges):
    with pytest.raises(ValidationError) as info:
        define_pathway(session, tenant, {"requirements": all_of(ach(badges[0]))}, actor=ADMIN)
    assert info.value.messages == {"name": ["Missing data for required field."]}


def test_references_must_exist_in_the_tenant(session, tenant, learner, badges):
    other = make_platform(session, 2)
    foreign = make_achievement(session, other, "Foreign")
    with pytest.raises(PathwayInvalid, match="does not exist in this platform"):
        define(session, tenant, "X", all_of(ach(foreign)))
    with pytest.raises(PathwayInvalid, match="pathway 4242 does not exist"):
        define(session, tenant, "X", all_of({"kind": "pathway", "pathway_id": 4242}))
    archive_achievement(session, badges[5], actor=ADMIN)
    with pytest.raises(AchievementArchived):
        define(session, tenant, "X", all_of(ach(badges[5])))
    with pytest.raises(TenantMismatch):
        define_pathway(
            session,
            tenant,
            {"name": "X", "requirements": all_of(ach(badges[0]))},
            actor=ADMIN,
            credential=foreign,
        )
    pathway = define(session, tenant, "Mine", all_of(ach(badges[0])))
    stranger = make_user(session, other, "s")
    with pytest.raises(TenantMismatch):
        evaluate(session, pathway, stranger)


def test_learner_progress_lists_live_pathways(session, tenant, learner, badges):
    define(session, tenant, "B path", all_of(ach(badges[0])))
    old = define(session, tenant, "A old", all_of(ach(badges[1])))
    archive_pathway(session, old, actor=ADMIN)
    define(session, tenant, "A path", n_of(1, ach(badges[1]), ach(badges[2])))
    give(session, badges[2], learner)
    listed = learner_progress(session, learner)
    assert [(p.name, p.complete, p.awarded) for p in listed] == [
        ("A path", True, True),
        ("B path", False, False),
    ]
