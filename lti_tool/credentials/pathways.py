"""Pathways: define (validated, cycle-free), evaluate a learner's progress, auto-award.

A requirement tree is all_of / any_of / n_of groups over leaves that are achievements or
other pathways. A pathway leaf counts as done when the learner holds that pathway's
credential, so completion travels upwards through ordinary awards: an award that completes a
pathway awards its credential (source "pathway", same transaction), which may complete the
pathways that contain it, and so on. Losing a requirement travels the same way: the
credential is withdrawn, and reinstated when the tree is met again (`pathway_cascade`).
Cycles are refused when a tree is saved, also when they go through a pathway's credential
used as an achievement leaf.

Progress is plain frozen dataclasses, ready for a page to draw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lti_tool.models import (
    Achievement,
    Award,
    Context,
    Pathway,
    PathwayNode,
    Platform,
    User,
    utcnow,
)
from lti_tool.models.pathways import (
    GROUP_KINDS,
    KIND_ACHIEVEMENT,
    KIND_ALL_OF,
    KIND_ANY_OF,
    KIND_N_OF,
    KIND_PATHWAY,
)
from schemas.credentials.pathways import PathwaySchema, RequirementSchema

from . import audit
from .audit import Actor, ActorRef
from .errors import AchievementArchived, PathwayCycle, PathwayInvalid, TenantMismatch

MAX_DEPTH = 12
MAX_NODES = 500

PATHWAY_CREATED = "pathway.created"
PATHWAY_UPDATED = "pathway.updated"
PATHWAY_ARCHIVED = "pathway.archived"
PATHWAY_COMPLETED = "pathway.completed"


# -- the tree in memory ----------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """One node of a requirement tree (groups have children; leaves refer to something)."""

    kind: str
    children: tuple[Requirement, ...] = ()
    required_count: int | None = None
    achievement_id: int | None = None
    pathway_id: int | None = None
    node_id: int | None = None

    @property
    def needed(self) -> int:
        if self.kind == KIND_ALL_OF:
            return len(self.children)
        if self.kind == KIND_ANY_OF:
            return 1
        if self.kind == KIND_N_OF:
            return self.required_count or 0
        return 1

    def leaves(self) -> Iterable[Requirement]:
        if self.kind in GROUP_KINDS:
            for child in self.children:
                yield from child.leaves()
        else:
            yield self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind in GROUP_KINDS:
            out["children"] = [child.to_dict() for child in self.children]
        if self.kind == KIND_N_OF:
            out["required_count"] = self.required_count
        if self.achievement_id is not None:
            out["achievement_id"] = self.achievement_id
        if self.pathway_id is not None:
            out["pathway_id"] = self.pathway_id
        return out


def requirement_from_dict(data: Mapping[str, Any]) -> Requirement:
    return Requirement(
        kind=data["kind"],
        children=tuple(requirement_from_dict(c) for c in data.get("children") or ()),
        required_count=data.get("required_count"),
        achievement_id=data.get("achievement_id"),
        pathway_id=data.get("pathway_id"),
    )


# -- progress ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeProgress:
    kind: str
    done: bool
    required: int  # children (or 1 for a leaf) needed
    completed: int  # children (or 1 for a leaf) done
    percent: int  # 0..100; 100 only when done
    node_id: int | None = None
    achievement_id: int | None = None
    pathway_id: int | None = None
    label: str = ""
    # Groups: their children. A pathway leaf: the sub-pathway's own tree (one child).
    children: tuple[NodeProgress, ...] = ()


@dataclass(frozen=True)
class PathwayProgress:
    pathway_id: int
    name: str
    achievement_id: int  # the pathway's credential
    complete: bool  # the requirement tree is satisfied
    awarded: bool  # the learner holds the pathway's credential (active)
    percent: int
    leaves_done: int
    leaves_total: int
    root: NodeProgress
    missing_achievement_ids: tuple[int, ...] = field(default=())


def evaluate_tree(
    node: Requirement,
    held: frozenset[int] | set[int],
    credential_of: Mapping[int, int],
    *,
    expand: Callable[[int], Requirement | None] | None = None,
    labels: Callable[[Requirement], str] | None = None,
    _depth: int = 0,
) -> NodeProgress:
    """Evaluate `node` against the achievement ids `held`. A pathway leaf is done when its
    credential (`credential_of[pathway_id]`) is held; `expand` (pathway id -> its tree) adds
    the sub-pathway's own progress under the leaf for display."""
    label = labels(node) if labels else ""
    if node.kind == KIND_ACHIEVEMENT:
        done = node.achievement_id in held
        return NodeProgress(
            node.kind,
            done,
            1,
            int(done),
            100 if done else 0,
            node.node_id,
            node.achievement_id,
            None,
            label,
        )
    if node.kind == KIND_PATHWAY:
        assert node.pathway_id is not None
        done = credential_of.get(node.pathway_id) in held
        children: tuple[NodeProgress, ...] = ()
        percent = 100 if done else 0
        sub = expand(node.pathway_id) if expand and _depth < MAX_DEPTH else None
        if sub is not None:
            inner = evaluate_tree(
                sub, held, credential_of, expand=expand, labels=labels, _depth=_depth + 1
            )
            children = (inner,)
            if not done:
                percent = min(inner.percent, 99)
        return NodeProgress(
            node.kind,
            done,
            1,
            int(done),
            percent,
            node.node_id,
            None,
            node.pathway_id,
            label,
            children,
        )
    results = tuple(
        evaluate_tree(c, held, credential_of, expand=expand, labels=labels, _depth=_depth + 1)
        for c in node.children
    )
    needed = node.needed
    completed = sum(1 for r in results if r.done)
    done = completed >= needed
    if done:
        percent = 100
    else:
        if node.kind == KIND_ANY_OF:
            raw = max((r.percent for r in results), default=0)
        else:  # all_of: every child counts; n_of: the best `needed` children
            best = sorted((r.percent for r in results), reverse=True)[:needed]
            raw = sum(best) // max(needed, 1)
        percent = min(raw, 99)
    return NodeProgress(
        node.kind, done, needed, completed, percent, node.node_id, None, None, label, results
    )


# -- loading ----------------------------------------------------------------------------------


def load_tree(session: Session, pathway: Pathway) -> Requirement:
    nodes = session.scalars(
        select(PathwayNode)
        .where(PathwayNode.pathway_id == pathway.id)
        .order_by(PathwayNode.position, PathwayNode.id)
    ).all()
    by_parent: dict[int | None, list[PathwayNode]] = {}
    for node in nodes:
        by_parent.setdefault(node.parent_id, []).append(node)

    def build(row: PathwayNode) -> Requirement:
        return Requirement(
            kind=row.kind,
            children=tuple(build(child) for child in by_parent.get(row.id, [])),
            required_count=row.required_count,
            achievement_id=row.achievement_id,
            pathway_id=row.sub_pathway_id,
            node_id=row.id,
        )

    roots = by_parent.get(None, [])
    if len(roots) != 1:
        raise PathwayInvalid(f"pathway {pathway.id} has {len(roots)} root nodes")
    return build(roots[0])


def _dependencies(session: Session, pathway_ids: Iterable[int]) -> dict[int, set[int]]:
    """pathway id -> the pathways its tree needs (pathway leaves, and achievement leaves that
    are some pathway's credential)."""
    ids = set(pathway_ids)
    out: dict[int, set[int]] = {pid: set() for pid in ids}
    if not ids:
        return out
    rows = session.execute(
        select(PathwayNode.pathway_id, PathwayNode.sub_pathway_id).where(
            PathwayNode.pathway_id.in_(ids), PathwayNode.sub_pathway_id.is_not(None)
        )
    ).all()
    for owner, sub in rows:
        if sub is not None:
            out[owner].add(sub)
    credential_rows = session.execute(
        select(PathwayNode.pathway_id, Pathway.id)
        .join(Pathway, Pathway.achievement_id == PathwayNode.achievement_id)
        .where(PathwayNode.pathway_id.in_(ids))
    ).all()
    for owner, sub in credential_rows:
        out[owner].add(sub)
    return out


def _check_no_cycle(
    session: Session, pathway: Pathway, direct: set[int], names: Callable[[int], str]
) -> None:
    """Refuse when `pathway`, needing the pathways `direct`, would reach itself."""
    needed_by: dict[int, int] = {}  # reached pathway -> the pathway that needs it
    frontier: list[int] = []

    def reach(sub: int, owner: int) -> None:
        if sub == pathway.id:
            path = [pathway.id, owner]
            while path[-1] != pathway.id:
                path.append(needed_by[path[-1]])
            chain = " -> ".join(names(pid) for pid in reversed(path))
            raise PathwayCycle(f"pathway {names(pathway.id)} would contain itself: {chain}")
        if sub not in needed_by:
            needed_by[sub] = owner
            frontier.append(sub)

    for pid in sorted(direct):
        reach(pid, pathway.id)
    while frontier:
        current = list(frontier)
        frontier.clear()
        deps = _dependencies(session, current)
        for owner in current:
            for sub in sorted(deps[owner]):
                reach(sub, owner)


# -- defining ---------------------------------------------------------------------------------


def _validate_tree(
    session: Session, platform_id: int, tree: Requirement
) -> tuple[dict[int, Achievement], dict[int, Pathway]]:
    nodes = 0
    max_depth = 0

    def walk(node: Requirement, depth: int) -> None:
        nonlocal nodes, max_depth
        nodes += 1
        max_depth = max(max_depth, depth)
        for child in node.children:
            walk(child, depth + 1)

    walk(tree, 1)
    if nodes > MAX_NODES:
        raise ValidationError({"requirements": [f"at most {MAX_NODES} requirements"]})
    if max_depth > MAX_DEPTH:
        raise ValidationError({"requirements": [f"nested at most {MAX_DEPTH} levels deep"]})
    leaves = list(tree.leaves())
    achievement_ids = {n.achievement_id for n in leaves if n.achievement_id is not None}
    pathway_ids = {n.pathway_id for n in leaves if n.pathway_id is not None}
    achievements = {
        a.id: a
        for a in session.scalars(select(Achievement).where(Achievement.id.in_(achievement_ids)))
    }
    pathways = {
        p.id: p for p in session.scalars(select(Pathway).where(Pathway.id.in_(pathway_ids)))
    }
    for aid in sorted(achievement_ids):
        found = achievements.get(aid)
        if found is None or found.platform_id != platform_id:
            raise PathwayInvalid(f"achievement {aid} does not exist in this platform")
        if found.archived_at is not None:
            raise AchievementArchived(f"achievement {found.name!r} is archived")
    for pid in sorted(pathway_ids):
        sub = pathways.get(pid)
        if sub is None or sub.platform_id != platform_id:
            raise PathwayInvalid(f"pathway {pid} does not exist in this platform")
        if sub.archived_at is not None:
            raise PathwayInvalid(f"pathway {sub.name!r} is archived")
    return achievements, pathways


def _load_definition(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = PathwaySchema().load(dict(data), partial=partial)
    except ValidationError as exc:
        raise ValidationError(exc.normalized_messages()) from exc
    return loaded


def _save_tree(session: Session, pathway: Pathway, tree: Requirement) -> None:
    session.execute(delete(PathwayNode).where(PathwayNode.pathway_id == pathway.id))
    session.expire(pathway, ["nodes"])

    def add(node: Requirement, parent_id: int | None, position: int) -> None:
        row = PathwayNode(
            pathway_id=pathway.id,
            parent_id=parent_id,
            position=position,
            kind=node.kind,
            required_count=node.required_count if node.kind == KIND_N_OF else None,
            achievement_id=node.achievement_id,
            sub_pathway_id=node.pathway_id,
        )
        session.add(row)
        if node.children:
            session.flush()
            for index, child in enumerate(node.children):
                add(child, row.id, index)

    add(tree, None, 0)
    session.flush()


def _names(session: Session, extra: Mapping[int, str]) -> Callable[[int], str]:
    cache = dict(extra)

    def name(pathway_id: int) -> str:
        if pathway_id not in cache:
            found = session.get(Pathway, pathway_id)
            cache[pathway_id] = found.name if found else str(pathway_id)
        return repr(cache[pathway_id])

    return name


def _direct_dependencies(session: Session, tree: Requirement) -> set[int]:
    leaves = list(tree.leaves())
    direct = {n.pathway_id for n in leaves if n.pathway_id is not None}
    achievement_ids = {n.achievement_id for n in leaves if n.achievement_id is not None}
    if achievement_ids:
        direct |= set(
            session.scalars(select(Pathway.id).where(Pathway.achievement_id.in_(achievement_ids)))
        )
    return direct


def define_pathway(
    session: Session,
    platform: Platform,
    data: Mapping[str, Any],
    *,
    actor: Actor,
    credential: Achievement | None = None,
) -> Pathway:
    """Create a pathway from {name, description?, context_id?, requirements}. Its credential
    is `credential`, or a new LearningProgram achievement named after the pathway."""
    loaded = _load_definition(data)
    tree = requirement_from_dict(loaded["requirements"])
    context_id = loaded.get("context_id")
    if context_id is not None:
        context = session.get(Context, context_id)
        if context is None or context.platform_id != platform.id:
            raise ValidationError({"context_id": ["no such course in this platform"]})
    _validate_tree(session, platform.id, tree)
    if credential is None:
        from .achievements import create_achievement

        credential = create_achievement(
            session,
            platform,
            {
                "name": loaded["name"],
                "description": loaded["description"] or f"Completed the {loaded['name']} pathway.",
                "criteria_narrative": f"Complete the requirements of the {loaded['name']} pathway.",
                "achievement_type": "LearningProgram",
                "context_id": context_id,
            },
            actor=actor,
        )
    else:
        if credential.platform_id != platform.id:
            raise TenantMismatch("the pathway credential belongs to another platform")
        if credential.archived_at is not None:
            raise AchievementArchived(f"achievement {credential.name!r} is archived")
        taken = session.scalars(
            select(Pathway.id).where(Pathway.achievement_id == credential.id)
        ).first()
        if taken is not None:
            raise PathwayInvalid(f"achievement {credential.name!r} already crowns pathway {taken}")
    pathway = Pathway(
        platform_id=platform.id,
        context_id=context_id,
        name=loaded["name"],
        description=loaded["description"],
        achievement_id=credential.id,
    )
    session.add(pathway)
    session.flush()
    _check_no_cycle(
        session,
        pathway,
        _direct_dependencies(session, tree),
        _names(session, {pathway.id: pathway.name}),
    )
    _save_tree(session, pathway, tree)
    audit.record(
        session,
        platform_id=platform.id,
        actor=actor,
        action=PATHWAY_CREATED,
        subject_type="pathway",
        subject_id=pathway.id,
        data={"achievement_id": credential.id, "requirements": tree.to_dict()},
    )
    session.flush()
    return pathway


def update_pathway(
    session: Session, pathway: Pathway, data: Mapping[str, Any], *, actor: Actor
) -> Pathway:
    """Change name / description / requirements (a new tree replaces the old one).

    Learners whom a new tree completes get the credential at their next award or
    reinstatement, or now through `award_if_complete`."""
    if pathway.archived_at is not None:
        raise PathwayInvalid(f"pathway {pathway.name!r} is archived")
    loaded = _load_definition(data, partial=True)
    changed = sorted(k for k in loaded if k != "context_id")
    if "context_id" in loaded and loaded["context_id"] != pathway.context_id:
        raise ValidationError({"context_id": ["a pathway cannot move to another course"]})
    if "requirements" in loaded:
        tree = requirement_from_dict(loaded["requirements"])
        _validate_tree(session, pathway.platform_id, tree)
        _check_no_cycle(
            session,
            pathway,
            _direct_dependencies(session, tree),
            _names(session, {pathway.id: pathway.name}),
        )
        _save_tree(session, pathway, tree)
    if "name" in loaded:
        pathway.name = loaded["name"]
    if "description" in loaded:
        pathway.description = loaded["description"]
    pathway.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        platform_id=pathway.platform_id,
        actor=actor,
        action=PATHWAY_UPDATED,
        subject_type="pathway",
        subject_id=pathway.id,
        data={"changed": changed},
    )
    session.flush()
    return pathway


def archive_pathway(
    session: Session, pathway: Pathway, *, actor: Actor, reason: str | None = None
) -> Pathway:
    """Stop auto-awarding; progress stays readable. Earned credentials are kept."""
    if pathway.archived_at is not None:
        raise PathwayInvalid(f"pathway {pathway.name!r} is already archived")
    pathway.archived_at = utcnow()
    session.flush()
    audit.record(
        session,
        platform_id=pathway.platform_id,
        actor=actor,
        action=PATHWAY_ARCHIVED,
        subject_type="pathway",
        subject_id=pathway.id,
        reason=reason,
    )
    session.flush()
    return pathway


def validate_requirements(data: Mapping[str, Any]) -> Requirement:
    """Schema-check a requirement tree on its own (no database)."""
    try:
        loaded = RequirementSchema().load(dict(data))
    except ValidationError as exc:
        raise ValidationError({"requirements": exc.normalized_messages()}) from exc
    return requirement_from_dict(loaded)


# -- evaluating -------------------------------------------------------------------------------


def evaluate(
    session: Session,
    pathway: Pathway,
    learner: User,
    *,
    at: datetime | None = None,
    expand: bool = True,
) -> PathwayProgress:
    """The learner's progress on `pathway` (with sub-pathways expanded for display)."""
    if pathway.platform_id != learner.platform_id:
        raise TenantMismatch("the pathway and the learner belong to different platforms")
    from .awards import held_achievement_ids

    held = held_achievement_ids(session, learner, at=at)
    tree = load_tree(session, pathway)
    trees: dict[int, Requirement] = {pathway.id: tree}
    pathways: dict[int, Pathway] = {pathway.id: pathway}

    def sub_tree(pathway_id: int) -> Requirement | None:
        if pathway_id not in trees:
            sub = session.get(Pathway, pathway_id)
            if sub is None:
                return None
            pathways[pathway_id] = sub
            trees[pathway_id] = load_tree(session, sub)
        return trees[pathway_id]

    if expand:
        # Load reachable trees up front so names and credentials are known.
        pending = [tree]
        while pending:
            current = pending.pop()
            for leaf in current.leaves():
                if leaf.pathway_id is not None and leaf.pathway_id not in trees:
                    loaded = sub_tree(leaf.pathway_id)
                    if loaded is not None:
                        pending.append(loaded)
    else:
        for leaf in tree.leaves():
            if leaf.pathway_id is not None and leaf.pathway_id not in pathways:
                found = session.get(Pathway, leaf.pathway_id)
                if found is not None:
                    pathways[leaf.pathway_id] = found
    credential_of = {pid: p.achievement_id for pid, p in pathways.items()}
    achievement_ids = {
        leaf.achievement_id
        for t in trees.values()
        for leaf in t.leaves()
        if leaf.achievement_id is not None
    }
    achievement_names = dict(
        session.execute(
            select(Achievement.id, Achievement.name).where(Achievement.id.in_(achievement_ids))
        ).all()
    )

    def label(node: Requirement) -> str:
        if node.achievement_id is not None:
            return str(achievement_names.get(node.achievement_id, node.achievement_id))
        if node.pathway_id is not None:
            sub = pathways.get(node.pathway_id)
            return sub.name if sub else str(node.pathway_id)
        if node.kind == KIND_ALL_OF:
            return "All of"
        if node.kind == KIND_ANY_OF:
            return "Any one of"
        return f"{node.required_count} of {len(node.children)}"

    root = evaluate_tree(
        tree,
        held,
        credential_of,
        expand=(lambda pid: trees.get(pid)) if expand else None,
        labels=label,
    )
    leaves = list(tree.leaves())

    def leaf_done(leaf: Requirement) -> bool:
        if leaf.achievement_id is not None:
            return leaf.achievement_id in held
        return leaf.pathway_id is not None and credential_of.get(leaf.pathway_id) in held

    missing = tuple(
        dict.fromkeys(
            leaf.achievement_id
            for leaf in leaves
            if leaf.achievement_id is not None and leaf.achievement_id not in held
        )
    )
    return PathwayProgress(
        pathway_id=pathway.id,
        name=pathway.name,
        achievement_id=pathway.achievement_id,
        complete=root.done,
        awarded=pathway.achievement_id in held,
        percent=root.percent,
        leaves_done=sum(1 for leaf in leaves if leaf_done(leaf)),
        leaves_total=len(leaves),
        root=root,
        missing_achievement_ids=missing,
    )


def learner_progress(session: Session, learner: User) -> list[PathwayProgress]:
    """Progress on every live pathway of the learner's platform, by name."""
    pathways = session.scalars(
        select(Pathway)
        .where(Pathway.platform_id == learner.platform_id, Pathway.archived_at.is_(None))
        .order_by(Pathway.name, Pathway.id)
    ).all()
    return [evaluate(session, p, learner) for p in pathways]


# -- auto-award -------------------------------------------------------------------------------


def _dependent_pathways(session: Session, achievement_id: int, platform_id: int) -> list[Pathway]:
    """Live pathways whose tree names this achievement, or the pathway it crowns."""
    direct = select(PathwayNode.pathway_id).where(PathwayNode.achievement_id == achievement_id)
    via_sub = (
        select(PathwayNode.pathway_id)
        .join(Pathway, Pathway.id == PathwayNode.sub_pathway_id)
        .where(Pathway.achievement_id == achievement_id)
    )
    return list(
        session.scalars(
            select(Pathway)
            .where(
                Pathway.platform_id == platform_id,
                Pathway.archived_at.is_(None),
                Pathway.id.in_(direct.union(via_sub).scalar_subquery()),
            )
            .order_by(Pathway.id)
        )
    )


def award_if_complete(
    session: Session,
    pathway: Pathway,
    learner: User,
    *,
    actor: Actor | None = None,
    cause: Award | None = None,
) -> Award | None:
    """Award the pathway's credential if the learner's awards satisfy its tree (idempotent);
    the new award, else None. A credential the cascade withdrew is reinstated instead
    (`pathway_cascade`; `cause` is the award that made the tree whole again)."""
    from .awards import award
    from .pathway_cascade import restore_if_withdrawn

    if pathway.archived_at is not None or pathway.achievement.archived_at is not None:
        return None
    progress = evaluate(session, pathway, learner, expand=False)
    if not progress.complete or progress.awarded:
        return None
    label = ActorRef(f"pathway:{pathway.id}")
    created_award, created = award(
        session, pathway.achievement, learner, source="pathway", actor=actor or label
    )
    if not created:
        restore_if_withdrawn(session, pathway, created_award, cause=cause)
        return None
    audit.record(
        session,
        platform_id=pathway.platform_id,
        actor=label,
        action=PATHWAY_COMPLETED,
        subject_type="pathway",
        subject_id=pathway.id,
        data={"user_id": learner.id, "award_id": created_award.id},
    )
    session.flush()
    return created_award


def award_completed_pathways(session: Session, active: Award) -> list[Award]:
    """Called when `active` becomes active: award every pathway it completes (recursively,
    through the awards this makes), and reinstate those the cascade withdrew."""
    from .pathway_cascade import forget

    if active.status_changed_at is not None:  # reinstated: the cascade no longer owns it
        forget(session, active.id)
    learner = active.learner
    made: list[Award] = []
    for pathway in _dependent_pathways(session, active.achievement_id, active.platform_id):
        new = award_if_complete(session, pathway, learner, cause=active)
        if new is not None:
            made.append(new)
    return made


def award_completed_pathways_many(session: Session, actives: Iterable[Award]) -> list[Award]:
    """`award_completed_pathways` for many awards: the dependent pathways are looked up once
    per achievement, so a batch of awards of one achievement no pathway uses costs one query."""
    made: list[Award] = []
    dependents: dict[tuple[int, int], list[Pathway]] = {}
    for active in actives:
        key = (active.achievement_id, active.platform_id)
        if key not in dependents:
            dependents[key] = _dependent_pathways(session, *key)
        for pathway in dependents[key]:
            new = award_if_complete(session, pathway, active.learner, cause=active)
            if new is not None:
                made.append(new)
    return made
