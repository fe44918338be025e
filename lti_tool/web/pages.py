"""In-LMS pages. Each needs a tool session started by a launch."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, url_for

from ..lti.roles import ADMINISTRATOR, INSTRUCTOR
from ..models import ToolSession
from .session import current_session, session_token

bp = Blueprint("web", __name__)


@dataclass(frozen=True)
class Visitor:
    """Who is looking, where, as what: what every in-LMS page shows in its header."""

    name: str
    course: str
    platform: str
    role: str

    @property
    def is_instructor(self) -> bool:
        return self.role in (INSTRUCTOR, ADMINISTRATOR)

    @property
    def is_admin(self) -> bool:
        return self.role == ADMINISTRATOR

    @classmethod
    def of(cls, tool_session: ToolSession) -> Visitor:
        platform = tool_session.deployment.platform
        context = tool_session.context
        return cls(
            name=tool_session.user.display_name,
            course=context.title if context and context.title else "",
            platform=platform.name or platform.issuer,
            role=tool_session.role,
        )


def render_home(visitor: Visitor, token: str, *, from_launch: bool = False) -> str:
    """The role-aware landing page. Rendered straight from a launch, it also moves the
    address to `/app?s=…` (history.replaceState), so a reload is a GET, not a re-POST."""
    return render_template(
        "web/home.html",
        v=visitor,
        s=token,
        page_url=url_for("web.home", s=token) if from_launch else None,
    )


@bp.get("/app")
def home() -> str:
    return render_home(Visitor.of(current_session()), session_token())
