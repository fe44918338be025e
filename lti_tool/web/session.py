"""The tool session of the current request, from `?s=`, a form field or a header."""

from __future__ import annotations

from flask import abort, g, request

from .. import tool_sessions
from ..models import ToolSession
from ..requestscope import db_read

SESSION_HEADER = "X-Microcred-Session"


def session_token() -> str:
    return (
        request.args.get("s") or request.form.get("s") or request.headers.get(SESSION_HEADER) or ""
    )


def current_session() -> ToolSession:
    """The tool session or a 401 page explaining how to get one (open from the LMS)."""
    if "tool_session" not in g:
        found = tool_sessions.find(db_read(), session_token())
        if found is None:
            abort(401)
        g.tool_session = found
    session: ToolSession = g.tool_session
    return session
