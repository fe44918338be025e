"""In-LMS pages. Each needs a tool session started by a launch."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..lti.roles import ADMINISTRATOR, INSTRUCTOR
from .session import current_session, session_token

bp = Blueprint("web", __name__)


@bp.get("/app")
def home() -> str:
    tool_session = current_session()
    return render_template(
        "web/home.html",
        ts=tool_session,
        s=session_token(),
        is_instructor=tool_session.role in (INSTRUCTOR, ADMINISTRATOR),
        is_admin=tool_session.role == ADMINISTRATOR,
    )
