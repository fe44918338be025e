"""create_app(settings): config -> extensions -> blueprints."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from .api import init_api
from .credentials import postbacks as score_postbacks
from .db import Database
from .lti import canvas as lti_canvas
from .lti import registration as lti_registration
from .lti import views as lti_views
from .lti.errors import LaunchRefused
from .obapi.install import install as obapi_install
from .obapi.install import install_clr
from .requestscope import close_db, db
from .services import Services
from .settings import Settings, load_settings
from .sync import outbox as sync_outbox
from .web import admin_sync as web_admin_sync
from .web import credentials as credentials_web
from .web import deep_linking as web_deep_linking
from .web import instructor as web_instructor
from .web import learner as web_learner
from .web import linkedin as web_linkedin
from .web import pages
from .web import rules as web_rules

WEB_DIR = Path(__file__).resolve().parent / "web"
log = logging.getLogger(__name__)

# Pages run inside LMS iframes on any origin: framing is allowed, everything else is tight.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "object-src 'none'; base-uri 'none'; form-action 'self' https: http:; frame-ancestors *"
)


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(
        "lti_tool",
        template_folder=str(WEB_DIR / "templates"),
        static_folder=str(WEB_DIR / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # An id_token of 1 MB or more never reaches the parser.
        MAX_CONTENT_LENGTH=1024 * 1024,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_SAMESITE="None" if settings.secure_cookies else "Lax",
        PREFERRED_URL_SCHEME="https" if settings.secure_cookies else "http",
    )
    if settings.proxy_fix_hops:
        hops = settings.proxy_fix_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    app.extensions["microcred"] = Services.build(settings, database)
    app.teardown_appcontext(close_db)

    app.register_blueprint(lti_views.bp)
    app.register_blueprint(lti_registration.bp)
    app.register_blueprint(lti_canvas.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(web_instructor.bp)
    app.register_blueprint(web_learner.bp)
    app.register_blueprint(credentials_web.bp)
    credentials_web.install_issuer(app)  # OB 3.0 credential per award (award listener)
    obapi_install(app, settings)  # OB 3.0 API (/ims/ob/v3p0) and the learner's wallets page
    install_clr(app, settings)  # CLR 2.0 per completed pathway (award listener, if configured)
    init_api(app, settings)  # REST API /api/v1 (OAuth 2.0 client credentials)
    app.register_blueprint(web_rules.bp)  # gradebook (AGS) rules
    app.register_blueprint(web_deep_linking.bp)  # deep-linking picker, placed achievements
    app.register_blueprint(web_admin_sync.bp)  # sync connections and deliveries (admins)
    app.register_blueprint(web_linkedin.bp)  # Add to LinkedIn profile, Share on LinkedIn
    app.register_blueprint(web_linkedin.callback_bp)  # Sign In with LinkedIn callback
    score_postbacks.install()  # queue score post-backs for placed achievements (award listener)
    if settings.sync_runner != "none":
        sync_outbox.install()  # one delivery row per enabled connection, in the award's transaction

    app.after_request(_security_headers)
    app.register_error_handler(LaunchRefused, _launch_refused)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(("/app", "/lti/launch")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _launch_refused(exc: LaunchRefused) -> tuple[str, int]:
    db().commit()  # a consumed login state stays consumed
    log.warning("LTI request refused (%s): %s", exc.status, exc.reason)
    return render_template("error.html", title="Launch refused", message=exc.public), exc.status


_HTTP_MESSAGES = {
    401: "Open this tool from your LMS course: this page needs a session.",
    404: "There is nothing at this address.",
    405: "This address does not accept that kind of request.",
    413: "The request is too large.",
}


def _http_error(exc: HTTPException) -> Response | tuple[str, int]:
    code = exc.code or 500
    if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
        return Response(
            f'{{"status": {code}, "title": "{exc.name}"}}',
            status=code,
            mimetype="application/problem+json",
        )
    message = _HTTP_MESSAGES.get(code, exc.description or exc.name)
    return render_template("error.html", title=exc.name, message=message), code


def _unexpected_error(exc: Exception) -> tuple[str, int]:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return (
        render_template(
            "error.html",
            title="Something went wrong",
            message="The tool hit an unexpected error. It has been logged.",
        ),
        500,
    )
