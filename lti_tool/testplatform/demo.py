"""`microcred demo`: the tool and a pretend LMS course on this machine, to try every flow.

The tool is served on `http://<host>:<port>` with its own SQLite database (by default
`<instance>/demo.sqlite3`), and the built-in test LMS (:mod:`lti_tool.testplatform`) on
`http://localhost:<lms_port>`, another site, so the tool runs in a cross-site iframe exactly
as inside Moodle or Canvas: real OIDC logins, signed id_tokens, NRPS rosters, LTI Platform
Storage. The LMS is registered in the tool on every start (same issuer and client id, so a
restart keeps everything earlier demos made).

`/demo` on the LMS is the demo's front page: who is in the course, what to try, one click to
open the course as the instructor or a learner. Every page of the LMS and of the tool says
DEMO. The demo refuses to run with `MICROCRED_ENV=production` or a non-SQLite database: it
creates people and credentials that are not real.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, render_template, request, url_for
from werkzeug.serving import BaseWSGIServer, make_server

from .. import migrate
from ..app import create_app
from ..db import Database
from ..keys import ensure_keys
from ..platforms import add_platform
from ..secretbox import SecretBox
from ..settings import Settings, load_settings
from .pages import HERE, role_label, tool_login_url
from .platform import ROLE_ADMIN, ROLE_INSTRUCTOR, ROLE_LEARNER, Member, TestPlatform

CLIENT_ID = "microcred-demo"
LMS_NAME = "Demo LMS"
COURSE = {"id": "demo-course", "label": "DEMO 101", "title": "Data Skills (demo course)"}
PEOPLE = (
    ("teacher-1", "Grace Hopper", ROLE_INSTRUCTOR),
    ("learner-1", "Ada Lovelace", ROLE_LEARNER),
    ("learner-2", "Katherine Johnson", ROLE_LEARNER),
    ("learner-3", "Mary Jackson", ROLE_LEARNER),
    ("learner-4", "Dorothy Vaughan", ROLE_LEARNER),
    ("admin-1", "Alan Turing", ROLE_ADMIN),
)
DEMO_DATABASE = "demo.sqlite3"


class DemoRefused(Exception):
    """The demo must not run with these settings; the message says why."""


def refusal(settings: Settings) -> str | None:
    """Why the demo may not run with `settings` (None: it may)."""
    if settings.is_production:
        return "the demo never runs with MICROCRED_ENV=production: it makes up people and awards"
    if not settings.is_sqlite:
        return (
            "the demo runs only on its own SQLite database, never on "
            f"{urlsplit(settings.database_url).scheme or 'this'} database: unset "
            "MICROCRED_DATABASE_URL or pass --database-url sqlite:///path/demo.sqlite3"
        )
    return None


def demo_settings(
    environ: Mapping[str, str], public_url: str, database_url: str | None = None
) -> Settings:
    """The environment's settings with the demo's database and public URL (DemoRefused when
    the environment is production or names another kind of database)."""
    configured = load_settings(environ)
    reason = refusal(configured)
    if reason:
        raise DemoRefused(reason)
    url = database_url or f"sqlite:///{Path(configured.instance_path).resolve() / DEMO_DATABASE}"
    settings = load_settings(environ, database_url=url, public_url=public_url)
    reason = refusal(settings)
    if reason:
        raise DemoRefused(reason)
    return settings


@dataclass
class DemoPlatform(TestPlatform):
    """The test LMS plus the demo's own pages (`/demo`, `/demo/course`, `/demo/roster.csv`)."""

    __test__ = False

    def wsgi_app(self) -> Flask:
        app = super().wsgi_app()
        register_demo_pages(app, self)
        return app


def demo_platform(tool_url: str) -> DemoPlatform:
    lms = DemoPlatform(tool_url=tool_url, client_id=CLIENT_ID, name=LMS_NAME, context=dict(COURSE))
    for sub, name, role in PEOPLE:
        lms.add_member(sub, name, [role], email=f"{name.split()[0].lower()}@demo.invalid")
    return lms


# -- the demo's pages on the LMS ---------------------------------------------------------------

TIPS = {
    "Instructor": (
        "Open “Achievements of this course”, create one with a skill alignment (e.g. ESCO).",
        "Award it to one learner, to the whole roster (fetched from this LMS with NRPS), "
        "or from a CSV file (dry run first; the demo page has a sample file).",
        "Open an award to suspend or revoke it with a reason; “Who earned what” lists them all.",
    ),
    "Learner": (
        "Open “My credentials” to see what you earned, and a credential for its details.",
        "Each credential is a signed Open Badges 3.0 credential with its own verification page.",
        "Switch to the instructor (left) to award something, then come back.",
    ),
    "Administrator": (
        "Administrators see the instructor pages and can change platform-wide achievements.",
    ),
}


def _people(platform: TestPlatform) -> list[tuple[Member, str]]:
    order = {sub: i for i, (sub, _, _) in enumerate(PEOPLE)}
    members = sorted(platform.members.values(), key=lambda m: (order.get(m.sub, 99), m.name))
    return [(m, role_label(m)) for m in members]


def register_demo_pages(app: Flask, platform: TestPlatform) -> None:
    bp = Blueprint("demo", __name__, template_folder=str(HERE / "templates"))
    tool = urlsplit(platform.tool_url)
    tool_origin = f"{tool.scheme}://{tool.netloc}"

    def render(template: str, status: int = 200, **context: Any) -> Response:
        body = render_template(
            template, lms=platform, course=platform.context, people=_people(platform), **context
        )
        response = Response(body, status=status, mimetype="text/html")
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            f"frame-src 'self' {tool_origin}; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @bp.get("/demo")
    def index() -> Response:
        return render("demo/index.html", tool_url=platform.tool_url)

    @bp.get("/demo/course")
    def course() -> Response:
        member = platform.members.get(request.args.get("user", ""))
        if member is None:
            return render("demo/index.html", 404, tool_url=platform.tool_url, unknown=True)
        role = role_label(member)
        return render(
            "demo/course.html",
            member=member,
            role=role,
            tips=TIPS.get(role, ()),
            login_url=tool_login_url(platform, member.sub, storage=True),
            self_url=url_for("demo.course", user=member.sub),
        )

    @bp.get("/demo/roster.csv")
    def sample_csv() -> Response:
        """A CSV for the bulk award: every learner, one bad row to see the dry run catch it."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "evidence_url", "issued_date"])
        for member, role in _people(platform):
            if role == "Learner":
                writer.writerow([member.email, "https://example.org/portfolio", ""])
        writer.writerow(["nobody@demo.invalid", "", "2020-13-45"])
        response = Response(out.getvalue(), mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="demo-roster.csv"'
        return response

    app.register_blueprint(bp)


# -- running it ------------------------------------------------------------------------------


def mark_as_demo(app: Flask) -> None:
    """Every page of the tool shows the DEMO banner (base.html reads `microcred_demo`)."""
    app.config["MICROCRED_DEMO"] = True

    @app.context_processor
    def _demo_flag() -> dict[str, object]:
        return {"microcred_demo": True}

    @app.after_request
    def _demo_header(response: Response) -> Response:
        response.headers["X-Microcred-Demo"] = "1"
        return response


class _Later:
    """A WSGI app set after the server has its port (the tool's settings need the URL)."""

    app: Callable[..., Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting"]
        return self.app(environ, start_response)


@dataclass
class RunningDemo:
    settings: Settings
    database: Database
    tool: Flask
    lms: DemoPlatform
    tool_server: BaseWSGIServer
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The page to open: the demo's front page on the LMS."""
        return self.lms.base_url + "/demo"

    def stop(self) -> None:
        self.lms.stop()
        self.tool_server.shutdown()
        self.tool_server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.database.dispose()


def start_demo(
    environ: Mapping[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    lms_host: str = "localhost",
    lms_port: int = 8001,
    database_url: str | None = None,
) -> RunningDemo:
    """Serve the tool and the demo LMS in background threads; DemoRefused (nothing started)
    when the settings are production or not SQLite. Port 0 picks a free port."""
    configured = load_settings(environ)  # configuration errors before any socket is opened
    reason = refusal(configured)
    if database_url and not database_url.startswith("sqlite"):
        reason = reason or refusal(load_settings(environ, database_url=database_url))
    if reason:
        raise DemoRefused(reason)
    later = _Later()
    try:
        tool_server = make_server(host, port, later, threaded=True)
    except SystemExit as exc:  # werkzeug exits when it cannot listen
        raise OSError(f"cannot listen on {host}:{port} (in use?)") from exc
    try:
        settings = demo_settings(
            environ, f"http://{host}:{tool_server.server_port}", database_url=database_url
        )
    except Exception:
        tool_server.server_close()
        raise
    database = Database(settings.database_url)
    migrate.upgrade(database)
    with database.session() as session:
        ensure_keys(session, SecretBox(settings.secret_key, settings.previous_secret_keys))
    tool = create_app(settings, database=database)
    mark_as_demo(tool)
    later.app = tool
    thread = threading.Thread(
        target=tool_server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    lms = demo_platform(settings.public_url)
    running = RunningDemo(settings, database, tool, lms, tool_server, [thread])
    try:
        lms.serve(host=lms_host, port=lms_port)
        with database.session() as session:
            add_platform(session, **lms.registration())
    except SystemExit as exc:  # werkzeug exits when it cannot listen
        running.stop()
        raise OSError(f"cannot listen on {lms_host}:{lms_port} (in use?)") from exc
    except BaseException:
        running.stop()
        raise
    return running
