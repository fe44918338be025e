"""The learner's side, inside the LMS frame (tool session): connected wallets and HR
portals, disconnecting one, the one-time link that signs the browser in first-party, and the
download of a completed pathway's CLR 2.0."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.credentials import clr as clr_service
from lti_tool.models import User
from lti_tool.requestscope import db, db_read, services
from lti_tool.web.csrf import check_csrf
from lti_tool.web.scope import load_scope, scope, template_globals, u

from . import scopes as S
from . import signin, store

bp = Blueprint("obapi_learner", __name__, url_prefix="/app/me")


@bp.before_request
def _guard() -> None:
    check_csrf(load_scope().token)


bp.context_processor(template_globals)


@bp.app_context_processor
def _clr_flag() -> dict[str, object]:
    """``clr_enabled`` for the pathway page: a download link only when CLRs are issued."""
    found = current_app.extensions.get("microcred.clr")
    return {"clr_enabled": bool(found is not None and found.available)}


def _learner(session_user_id: int) -> User:
    user = db_read().get(User, session_user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/wallets")
def wallets() -> str:
    current = scope()
    user = _learner(current.user_id)
    return render_template(
        "obapi_wallets.html",
        connections=store.connections(db_read(), user),
        descriptions=S.DESCRIPTIONS,
        signin_minutes=services().settings.obapi_signin_ttl // 60,
    )


@bp.post("/wallets/connect")
def connect() -> BaseResponse:
    """Opened in a new top-level tab (form target=_blank): hand it a one-time sign-in link."""
    token = signin.create_link(db(), scope().user_id)
    db().commit()
    return redirect(url_for("obapi.signin_link", t=token), 303)


@bp.post("/wallets/disconnect")
def disconnect() -> Response | BaseResponse:
    current = scope()
    user = db().get(User, current.user_id)
    if user is None:
        abort(404)
    client_id = request.form.get("client_id", "")
    if not store.disconnect(db(), user, client_id):
        abort(404)
    db().commit()
    return redirect(u("obapi_learner.wallets"), 303)


@bp.get("/pathways/<int:pathway_id>/clr.json")
def clr_download(pathway_id: int) -> Response:
    """The learner's signed CLR of a completed pathway, as a JSON file."""
    user = _learner(scope().user_id)
    issued = clr_service.clr_of_pathway(db_read(), pathway_id, user)
    if issued is None:
        abort(404)
    response = Response(
        json.dumps(issued.credential, ensure_ascii=False), mimetype="application/ld+json"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="clr-{issued.public_id}.json"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
