"""LinkedIn pages: "Add to LinkedIn profile", "Share on LinkedIn", and the sign-in callback.

Everything LinkedIn shows runs in a new top-level tab (the learner pages link with
``target=_blank``): LinkedIn's sign-in refuses to be framed and an LMS iframe has no
first-party cookies. The tab carries the tool session in ``?s=`` like every page; on the way
to LinkedIn it is stored, encrypted, under the hash of a one-time ``state``, which is all
LinkedIn sees and all the callback needs. No transaction is open during a call to LinkedIn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from werkzeug.wrappers import Response

from schemas.linkedin import CallbackSchema, SharePostSchema

from ..linkedin import accounts, oauth, posts
from ..linkedin.links import add_to_profile_link
from ..models import Award, IssuedCredential, utcnow
from ..models.awards import STATUS_ACTIVE
from ..models.linkedin import USE_POST, USE_PROFILE
from ..requestscope import db, db_read, services
from .csrf import check_csrf
from .learner import is_expired
from .scope import load_scope, scope, template_globals, u

bp = Blueprint("linkedin", __name__, url_prefix="/app/me/linkedin")
callback_bp = Blueprint("linkedin_callback", __name__)
FEED_UPDATE = "https://www.linkedin.com/feed/update/"


@bp.before_request
def _guard() -> None:
    check_csrf(load_scope().token)


bp.context_processor(template_globals)


def config() -> oauth.LinkedInConfig | None:
    """The app's LinkedIn client, or ``None`` when sharing is not configured."""
    s = services().settings
    if not s.linkedin_client_id or not s.linkedin_client_secret:
        return None
    return oauth.LinkedInConfig(
        client_id=s.linkedin_client_id,
        client_secret=s.linkedin_client_secret,
        redirect_uri=s.url(url_for("linkedin_callback.callback")),
        auth_url=s.linkedin_auth_url,
        api_url=s.linkedin_api_url,
        version=s.linkedin_version,
        pkce=s.linkedin_pkce,
        timeout=s.http_timeout,
    )


# -- the learner's credential -------------------------------------------------------------------


@dataclass(frozen=True)
class Shared:
    award_id: int
    name: str
    description: str
    issuer_name: str
    page_url: str
    issued: IssuedCredential


def _credential(session: Session, award_id: int, *, active: bool = True) -> Shared:
    current = scope()
    issued = session.scalars(
        select(IssuedCredential)
        .join(Award, IssuedCredential.award_id == Award.id)
        .where(
            Award.id == award_id,
            Award.user_id == current.user_id,
            Award.platform_id == current.platform_id,
        )
        .options(joinedload(IssuedCredential.award))
    ).one_or_none()
    if issued is None:
        abort(404)
    award = issued.award
    if active and (award.status != STATUS_ACTIVE or is_expired(award, utcnow())):
        abort(409, description="Only an active credential can be put on LinkedIn.")
    doc = issued.credential
    achievement = doc.get("credentialSubject", {}).get("achievement", {})
    issuer = doc.get("issuer") if isinstance(doc.get("issuer"), dict) else {}
    return Shared(
        award_id=award.id,
        name=str(achievement.get("name") or doc.get("name") or "Credential"),
        description=str(achievement.get("description") or "")[:500],
        issuer_name=str((issuer or {}).get("name") or ""),
        page_url=services().settings.url(f"/credentials/{issued.public_id}"),
        issued=issued,
    )


# -- Add to profile -------------------------------------------------------------------------


@bp.get("/<int:award_id>/profile")
def add_to_profile(award_id: int) -> Response:
    """Remember the learner used the link (for the removal notice), then go to LinkedIn."""
    reader = db_read()
    shared = _credential(reader, award_id)
    target = add_to_profile_link(
        reader,
        shared.issued,
        name=shared.name,
        issuer_name=shared.issuer_name,
        page_url=shared.page_url,
    )
    session = db()
    accounts.record_use(session, award_id=award_id, user_id=scope().user_id, kind=USE_PROFILE)
    session.commit()
    return redirect(target, 303)


# -- Share on LinkedIn ----------------------------------------------------------------------


def _share_page(
    shared: Shared, *, message: str | None = None, errors: dict[str, Any] | None = None
) -> str:
    client = config()
    if client is None:
        abort(404)
    connection = accounts.connection(db_read(), services().secretbox, scope().user_id)
    commentary = request.form.get("commentary") or (
        f"I earned the {shared.name} credential"
        + (f" from {shared.issuer_name}" if shared.issuer_name else "")
        + "."
    )
    return render_template(
        "linkedin/share.html",
        shared=shared,
        connection=connection,
        message=message,
        errors=errors or {},
        commentary=commentary,
    )


@bp.get("/<int:award_id>/share")
def share(award_id: int) -> str:
    return _share_page(_credential(db_read(), award_id))


@bp.post("/<int:award_id>/connect")
def connect(award_id: int) -> Response:
    """Start "Sign In with LinkedIn" in this (top-level) tab."""
    client = config()
    if client is None:
        abort(404)
    _credential(db_read(), award_id)
    verifier = oauth.new_code_verifier() if client.pkce else None
    session = db()
    state = accounts.start_sign_in(
        session,
        services().secretbox,
        user_id=scope().user_id,
        award_id=award_id,
        session_token=scope().token,
        code_verifier=verifier,
    )
    session.commit()
    return redirect(oauth.authorization_url(client, state, verifier), 303)


@bp.post("/<int:award_id>/post")
def post(award_id: int) -> str | tuple[str, int]:
    client = config()
    if client is None:
        abort(404)
    reader = db_read()
    shared = _credential(reader, award_id)
    try:
        form = SharePostSchema().load(request.form)
    except ValidationError as exc:
        return _share_page(shared, errors=dict(exc.messages)), 400  # type: ignore[arg-type]
    user_id = scope().user_id
    connection = accounts.connection(reader, services().secretbox, user_id)
    reader.close()  # nothing stays open while LinkedIn answers
    if not connection.connected or not connection.access_token or not connection.member_sub:
        return _share_page(shared, message=connection.reconnect_reason), 409
    body = posts.post_body(
        member_sub=connection.member_sub,
        commentary=form["commentary"],
        link=shared.page_url,
        title=shared.name,
        description=shared.description,
    )
    try:
        urn = posts.share(services().http, client, connection.access_token, body)
    except oauth.TokenRefused as exc:
        session = db()
        accounts.mark_refused(session, user_id, str(exc))
        session.commit()
        return _share_page(shared, message=str(exc)), 409
    except oauth.LinkedInError as exc:
        return _share_page(shared, message=str(exc)), 502
    session = db()
    accounts.record_use(session, award_id=award_id, user_id=user_id, kind=USE_POST, post_urn=urn)
    session.commit()
    return render_template("linkedin/posted.html", shared=shared, post_url=FEED_UPDATE + urn)


# -- the sign-in callback (no tool session in the URL: LinkedIn needs an exact redirect URI) -----


def _problem(message: str, status: int, back: str | None = None) -> tuple[str, int]:
    return render_template("linkedin/problem.html", message=message, back=back), status


@callback_bp.get("/linkedin/callback")
def callback() -> Response | tuple[str, int]:
    try:
        args = CallbackSchema().load(request.args)
    except ValidationError:
        return _problem("This LinkedIn answer is incomplete. Start again from the tool.", 400)
    session = db()
    pending = accounts.consume_state(session, services().secretbox, args["state"])
    session.commit()
    if pending is None:
        return _problem(
            "This LinkedIn sign-in has expired or was already used. Start again from the tool.",
            400,
        )
    back = url_for("linkedin.share", award_id=pending.award_id, s=pending.session_token)
    client = config()
    if client is None:
        abort(404)
    if "error" in args or "code" not in args:
        return _problem(
            "LinkedIn was not connected: "
            + (args.get("error_description") or args.get("error") or "no code came back")
            + ". Nothing was shared.",
            400,
            back,
        )
    try:
        member = oauth.sign_in(client, args["code"], pending.code_verifier)
    except oauth.LinkedInError as exc:
        return _problem(str(exc), 502, back)
    session = db()
    accounts.save_account(session, services().secretbox, pending.user_id, member)
    session.commit()
    return redirect(back, 303)


# -- what the learner pages show --------------------------------------------------------------


@dataclass(frozen=True)
class Actions:
    profile_url: str
    share_url: str | None


def linkedin_actions(award: Award) -> Actions | None:
    """The LinkedIn buttons of one of the learner's awards (active ones only)."""
    if award.status != STATUS_ACTIVE or is_expired(award, utcnow()):
        return None
    share_url = u("linkedin.share", award_id=award.id) if config() is not None else None
    return Actions(u("linkedin.add_to_profile", award_id=award.id), share_url)


def linkedin_removals(awards: list[Award]) -> list[Award]:
    """Revoked, suspended or expired awards the learner put on LinkedIn (added or posted)."""
    now: datetime = utcnow()
    withdrawn = [a for a in awards if a.status != STATUS_ACTIVE or is_expired(a, now)]
    used = accounts.awards_on_linkedin(db_read(), scope().user_id, (a.id for a in withdrawn))
    return [a for a in withdrawn if a.id in used]


@bp.app_context_processor
def _learner_helpers() -> dict[str, object]:
    return {"linkedin_actions": linkedin_actions, "linkedin_removals": linkedin_removals}
