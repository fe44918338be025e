"""The instructor blueprint: who may enter (instructors and administrators in a course),
request size limits per page, CSRF on every POST, and the template globals."""

from __future__ import annotations

from flask import Blueprint, abort, request

from ...lti.roles import ADMINISTRATOR, INSTRUCTOR
from .. import bulk
from ..csrf import check_csrf
from ..scope import load_scope, template_globals

bp = Blueprint("instructor", __name__, url_prefix="/app/instructor")

IMAGE_REQUEST_LIMIT = 1024 * 1024 + 256 * 1024  # a 1 MB image and the form around it


@bp.before_request
def _guard() -> None:
    current = load_scope()
    if current.role not in (INSTRUCTOR, ADMINISTRATOR):
        abort(403, description="Only the course's instructors can use this page.")
    if current.context_id is None:
        abort(403, description="Open the tool from a course to manage its credentials.")
    if request.endpoint == "instructor.bulk_award":
        request.max_content_length = bulk.REQUEST_LIMIT
        request.max_form_memory_size = bulk.FORM_LIMIT
    elif request.endpoint in ("instructor.new_achievement", "instructor.edit_achievement"):
        request.max_content_length = IMAGE_REQUEST_LIMIT
    check_csrf(current.token)


bp.context_processor(template_globals)
