"""Property tests: `evaluate` agrees with a naive reference evaluator on random trees, and
the auto-award fires exactly when the tree is satisfied."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lti_tool.credentials import awards as svc
from lti_tool.credentials.pathways import (
    Requirement,
    define_pathway,
    evaluate,
    evaluate_tree,
    requirement_from_dict,
)
from lti_tool.db import Database
from lti_tool.models import Award

from .conftest import ADMIN, make_achievement, make_platform, make_user

POOL = 6  # achievement "slots" 0..5


def trees(max_leaves: int = 12) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.builds(
        lambda i: {"kind": "achievement", "achievement_id": i}, st.integers(0, POOL - 1)
    )

    def groups(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        kids = st.lists(children, min_size=1, max_size=4)
        return st.one_of(
            kids.map(lambda c: {"kind": "all_of", "children": c}),
            kids.map(lambda c: {"kind": "any_of", "children": c}),
            kids.flatmap(
                lambda c: st.integers(1, len(c)).map(
                    lambda n: {"kind": "n_of", "required_count": n, "children": c}
                )
            ),
        )

    return groups(st.recursive(leaf, groups, max_leaves=max_leaves))


def reference(tree: dict[str, Any], held: set[int]) -> bool:
    """The obvious recursive definition, written independently of the service."""
    kind = tree["kind"]
    if kind == "achievement":
        return tree["achievement_id"] in held
    results = [reference(child, held) for child in tree["children"]]
    if kind == "all_of":
        return all(results)
    if kind == "any_of":
        return any(results)
    return sum(results) >= tree["required_count"]


def _check_numbers(node: Any) -> None:
    assert 0 <= node.percent <= 100
    assert (node.percent == 100) == node.done
    assert node.done == (node.completed >= node.required)
    for child in node.children:
        _check_numbers(child)


@settings(max_examples=400, deadline=None)
@given(tree=trees(), held=st.sets(st.integers(0, POOL - 1)))
def test_evaluate_tree_matches_reference(tree: dict[str, Any], held: set[int]):
    requirement: Requirement = requirement_from_dict(tree)
    progress = evaluate_tree(requirement, held, {})
    assert progress.done == reference(tree, held)
    _check_numbers(progress)
    # Monotone: holding more never lowers the result.
    assert evaluate_tree(requirement, held | set(range(POOL)), {}).done


def _remap(tree: dict[str, Any], ids: list[int]) -> dict[str, Any]:
    if tree["kind"] == "achievement":
        return {"kind": "achievement", "achievement_id": ids[tree["achievement_id"]]}
    out = {**tree, "children": [_remap(c, ids) for c in tree["children"]]}
    return out


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=trees(max_leaves=8), earned=st.lists(st.integers(0, POOL - 1), unique=True))
def test_auto_award_fires_iff_satisfied(database: Database, tree: dict[str, Any], earned):
    # Each example works in one transaction that is rolled back: no clean-up needed.
    s = database.sessionmaker()
    try:
        platform = make_platform(s)
        learner = make_user(s, platform, "prop")
        pool = [make_achievement(s, platform, f"A{i}") for i in range(POOL)]
        ids = [a.id for a in pool]
        pathway = define_pathway(
            s, platform, {"name": "Random", "requirements": _remap(tree, ids)}, actor=ADMIN
        )
        held: set[int] = set()
        for slot in earned:
            was_satisfied = reference(tree, held)
            svc.award(s, pool[slot], learner, source="rule", actor="rule:prop")
            held.add(slot)
            awarded = s.scalars(
                select(Award.id).where(
                    Award.achievement_id == pathway.achievement_id, Award.user_id == learner.id
                )
            ).all()
            # Fires exactly when the tree becomes satisfied (and stays awarded, once only).
            assert bool(awarded) == reference(tree, held)
            assert len(awarded) <= 1
            if reference(tree, held) and not was_satisfied:
                assert awarded
        progress = evaluate(s, pathway, learner)
        assert progress.complete == reference(tree, held)
        assert progress.awarded == reference(tree, held)
    finally:
        s.rollback()
        s.close()
