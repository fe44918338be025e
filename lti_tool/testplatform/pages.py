"""The test platform's human side: a course page that embeds the tool, as an LMS does.

`/course?user=<sub>` shows one course of the test LMS with the tool in an iframe named
`tool-frame`. The iframe starts at the tool's OIDC login initiation URL (a GET, as Canvas
does), so everything after that is the real launch: the tool's login, the platform's
`/auth`, the form post to the tool's `/lti/launch`.

The page is also the platform side of LTI Platform Storage (1EdTech "LTI Client Side
postMessages"): `static/lti_platform_storage.js` answers `lti.capabilities`, `lti.put_data`
and `lti.get_data` from the tool frame. With `storage=0` the page neither runs that script
nor sends `lti_storage_target`, like an LMS without Platform Storage.

Used by the browser tests and by the demo; it is plainly labelled as a test LMS.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Flask, Response, render_template, request, url_for

if TYPE_CHECKING:
    from .platform import Member, TestPlatform

HERE = Path(__file__).resolve().parent
TOOL_FRAME_NAME = "tool-frame"
STORAGE_TARGET = "_parent"
ROLE_LABELS = (
    ("#Administrator", "Administrator"),
    ("#Instructor", "Instructor"),
    ("#Learner", "Learner"),
)


def role_label(member: Member) -> str:
    for suffix, label in ROLE_LABELS:
        if any(role.endswith(suffix) for role in member.roles):
            return label
    return "Member"


def tool_login_url(platform: TestPlatform, sub: str, *, storage: bool) -> str:
    """The GET login initiation URL the course page puts in the tool iframe."""
    extra = {"lti_storage_target": STORAGE_TARGET} if storage else {}
    return platform.tool_url + "/lti/login?" + urlencode(platform.login_params(sub, **extra))


def register_pages(app: Flask, platform: TestPlatform, *, tool_title: str = "Microcred") -> None:
    """Add `/course` and the page's static files to the platform's Flask app."""
    bp = Blueprint(
        "lms",
        __name__,
        static_folder=str(HERE / "static"),
        static_url_path="/static/lms",
        template_folder=str(HERE / "templates"),
    )

    tool = urlsplit(platform.tool_url)
    tool_origin = f"{tool.scheme}://{tool.netloc}"

    def render(template: str, status: int = 200, **context: object) -> Response:
        body = render_template(template, lms=platform, course=platform.context, **context)
        response = Response(body, status=status, mimetype="text/html")
        # The tool frame may navigate to the tool and back to this LMS (/auth); nothing else.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            f"frame-src 'self' {tool_origin}; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @bp.get("/")
    def index() -> Response:
        return render("lms/choose.html", people=_people(platform), unknown=None)

    @bp.get("/course")
    def course() -> Response:
        sub = request.args.get("user", "")
        member = platform.members.get(sub)
        if member is None:
            return render(
                "lms/choose.html",
                404 if sub else 200,
                people=_people(platform),
                unknown=sub or None,
            )
        storage = request.args.get("storage", "1") != "0"
        return render(
            "lms/course.html",
            member=member,
            role=role_label(member),
            others=[p for p in _people(platform) if p[0].sub != sub],
            storage=storage,
            storage_flag="1" if storage else "0",
            self_url=url_for("lms.course", user=sub, storage="1" if storage else "0"),
            login_url=tool_login_url(platform, sub, storage=storage),
            frame_name=TOOL_FRAME_NAME,
            tool_title=tool_title,
        )

    app.register_blueprint(bp)


def _people(platform: TestPlatform) -> list[tuple[Member, str]]:
    return [(m, role_label(m)) for m in sorted(platform.members.values(), key=lambda m: m.name)]
