"""/api/v1/learners: find a learner by id, email or HR id; their awards and pathway progress.
Learners are created by LMS launches and roster syncs, never through the API."""

from __future__ import annotations

from typing import Any

from lti_tool.credentials import awards, learners, pathways
from lti_tool.credentials.pathways import PathwayProgress
from lti_tool.models import Award, User
from lti_tool.requestscope import db_read
from schemas.api.awards import AwardOutSchema
from schemas.api.learners import LearnerLookupQuerySchema, LearnerOutSchema, PathwayProgressSchema

from .auth import authorize
from .base import ID, resource, tenant_get, tenant_platform
from .errors import ApiProblem

bp = resource("learners", "People as their LMS knows them, with their awards and progress.")


@bp.route("/lookup", methods=["GET"])
@authorize(bp, "learners:read")
@bp.arguments(LearnerLookupQuerySchema, location="query")
@bp.response(200, LearnerOutSchema)
def lookup_learner(query: dict[str, Any]) -> User:
    """The learner with this email (case-insensitive) or HR id; 409 when several share it."""
    session = db_read()
    found = learners.find_learner(
        session,
        tenant_platform(session),
        email=query.get("email"),
        hr_id=query.get("hr_id"),
        hr_id_kind=query.get("hr_id_kind"),
    )
    if found is None:
        raise ApiProblem(404, "There is no such learner.", kind="not-found")
    return found


@bp.route(f"/<{ID}:learner_id>", methods=["GET"])
@authorize(bp, "learners:read")
@bp.response(200, LearnerOutSchema)
def get_learner(learner_id: int) -> User:
    return tenant_get(db_read(), User, learner_id)


@bp.route(f"/<{ID}:learner_id>/awards", methods=["GET"])
@authorize(bp, "learners:read")
@bp.response(200, AwardOutSchema(many=True))
def learner_awards(learner_id: int) -> list[Award]:
    """All the learner's awards, any status, newest first."""
    session = db_read()
    return awards.learner_awards(session, tenant_get(session, User, learner_id))


@bp.route(f"/<{ID}:learner_id>/progress", methods=["GET"])
@authorize(bp, "learners:read")
@bp.response(200, PathwayProgressSchema(many=True))
def learner_progress(learner_id: int) -> list[PathwayProgress]:
    """Progress on every live pathway of the tenant."""
    session = db_read()
    return pathways.learner_progress(session, tenant_get(session, User, learner_id))
