"""Learner pages: my credentials, one credential's details, pathway progress as a picture.

Any launched user (learners, and instructors who hold credentials themselves); everything
is the session user's own, within the session's platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Response, abort, render_template
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from ..credentials.pathways import NodeProgress, PathwayProgress, learner_progress
from ..models import Achievement, AchievementImage, Award, User, utcnow
from ..models.awards import STATUS_ACTIVE, STATUS_EXPIRED
from ..requestscope import db_read
from .csrf import check_csrf
from .paging import paged
from .scope import load_scope, safe_http_url, scope, template_globals

bp = Blueprint("learner", __name__, url_prefix="/app/me")


@bp.before_request
def _guard() -> None:
    check_csrf(load_scope().token)


bp.context_processor(template_globals)
bp.add_app_template_global(safe_http_url, "safe_http_url")


def is_expired(award: Award, now: datetime) -> bool:
    return award.status == STATUS_EXPIRED or (
        award.status == STATUS_ACTIVE and award.expires_at is not None and award.expires_at <= now
    )


CREDENTIALS_PER_PAGE = 50


@bp.get("")
def credentials() -> str:
    """The session user's credentials, newest first, a page at a time, grouped by state."""
    current = scope()
    page = paged(
        db_read(),
        select(Award)
        .where(Award.user_id == current.user_id, Award.platform_id == current.platform_id)
        .options(joinedload(Award.achievement))
        .order_by(Award.issued_at.desc(), Award.id.desc()),
        CREDENTIALS_PER_PAGE,
        key=Award.id,
    )
    awards = page.items
    now = utcnow()
    expired = [a for a in awards if is_expired(a, now)]
    active = [a for a in awards if a.status == STATUS_ACTIVE and a not in expired]
    withdrawn = [a for a in awards if a not in expired and a not in active]
    return render_template(
        "learner/credentials.html", active=active, expired=expired, withdrawn=withdrawn, page=page
    )


@bp.get("/credentials/<int:award_id>")
def credential(award_id: int) -> str:
    current = scope()
    found = (
        db_read()
        .scalars(
            select(Award)
            .where(
                Award.id == award_id,
                Award.user_id == current.user_id,
                Award.platform_id == current.platform_id,
            )
            .options(joinedload(Award.achievement))
        )
        .one_or_none()
    )
    if found is None:
        abort(404)
    return render_template(
        "learner/credential.html",
        award=found,
        a=found.achievement,
        expired=is_expired(found, utcnow()),
    )


@bp.get("/achievements/<int:achievement_id>/image")
def achievement_image(achievement_id: int) -> Response:
    """A badge image of the session's platform (validated on upload: PNG or inert SVG)."""
    current = scope()
    session = db_read()
    owner = session.scalar(
        select(Achievement.id).where(
            Achievement.id == achievement_id,
            Achievement.platform_id == current.platform_id,
            or_(Achievement.context_id.is_(None), Achievement.context_id == current.context_id)
            | Achievement.id.in_(
                select(Award.achievement_id).where(Award.user_id == current.user_id)
            ),
        )
    )
    image = session.get(AchievementImage, owner) if owner is not None else None
    if image is None:
        abort(404)
    response = Response(image.data, mimetype=image.media_type)
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


# -- pathway progress as a picture ------------------------------------------------------------

ROW = 36
INDENT = 28
BOX = 18
WIDTH = 640


@dataclass(frozen=True)
class DrawnNode:
    x: int
    y: int
    label: str
    done: bool
    group: bool
    parent_x: int | None
    parent_y: int | None
    summary: str


def _summary(node: NodeProgress) -> str:
    state = "done" if node.done else "not yet done"
    if node.children and node.kind in ("all_of", "any_of", "n_of"):
        return f"{node.label}: {node.completed} of {node.required} needed done, {state}"
    return f"{node.label}: {state}"


def layout(root: NodeProgress) -> tuple[list[DrawnNode], int]:
    """One row per node, indented by depth; each node remembers where its parent is."""
    drawn: list[DrawnNode] = []

    def walk(node: NodeProgress, depth: int, parent: tuple[int, int] | None) -> None:
        x = 8 + depth * INDENT
        y = 8 + len(drawn) * ROW
        group = node.kind in ("all_of", "any_of", "n_of")
        drawn.append(
            DrawnNode(
                x,
                y,
                node.label,
                node.done,
                group,
                parent[0] if parent else None,
                parent[1] if parent else None,
                _summary(node),
            )
        )
        for child in node.children:
            walk(child, depth + 1, (x + BOX // 2, y + BOX))

    walk(root, 0, None)
    return drawn, 16 + len(drawn) * ROW


@bp.get("/pathways")
def pathways() -> str:
    current = scope()
    session = db_read()
    learner = session.get(User, current.user_id)
    if learner is None:
        abort(404)
    progress: list[PathwayProgress] = learner_progress(session, learner)
    drawings = [(p, *layout(p.root)) for p in progress]
    return render_template(
        "learner/pathways.html", drawings=drawings, width=WIDTH, box=BOX, row=ROW
    )
