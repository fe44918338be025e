"""Instructor pages: the course's achievements, awarding (one, several, CSV, roster),
and the life of an award (suspend, reinstate, revoke).

Instructors and administrators only; every query is scoped to the session's platform
(tenant) and course. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any

import requests
from flask import Blueprint, abort, redirect, render_template, request
from marshmallow import ValidationError
from pylti1p3.exception import LtiServiceException
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from ..credentials import CredentialError
from ..credentials import achievements as achievement_service
from ..credentials import awards as award_service
from ..credentials.audit import ActorRef
from ..credentials.awards import Evidence
from ..lti.nrps import RosterMember, roster
from ..lti.roles import ADMINISTRATOR, INSTRUCTOR, LEARNER, primary_role
from ..lti.tool_config import PlatformRegistration
from ..models import Achievement, Award, Context, Enrollment, Platform, User, utcnow
from ..models.achievements import ACHIEVEMENT_TYPES, RESULT_TYPES
from ..requestscope import db, db_read, services
from ..upsert import upsert
from . import bulk
from .csrf import check_csrf
from .scope import Page, Scope, load_scope, page_number, scope, template_globals

bp = Blueprint("instructor", __name__, url_prefix="/app/instructor")
log = logging.getLogger(__name__)

ACHIEVEMENTS_PER_PAGE = 20
AWARDS_PER_PAGE = 50
LEARNERS_PER_PAGE = 50
MAX_ALIGNMENT_ROWS = 50
IMAGE_REQUEST_LIMIT = 1024 * 1024 + 256 * 1024  # a 1 MB image and the form around it

FORM_FIELDS = (
    "name",
    "description",
    "criteria_narrative",
    "criteria_url",
    "achievement_type",
    "tags",
    "validity_days",
    "evidence_required",
    "result_type",
    "result_name",
    "value_min",
    "value_max",
    "levels",
    "image",
)


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


def _redirect(endpoint: str, **values: Any) -> WerkzeugResponse:
    from .scope import u

    return redirect(u(endpoint, **values), code=303)


def _actor(current: Scope) -> ActorRef:
    return ActorRef(f"user:{current.user_id}", current.user_id)


# -- scoped queries ---------------------------------------------------------------------------


def _in_course(current: Scope) -> Any:
    """Achievements this course sees: its own and the platform-wide ones of its tenant."""
    return and_(
        Achievement.platform_id == current.platform_id,
        or_(Achievement.context_id == current.context_id, Achievement.context_id.is_(None)),
    )


def _achievement(session: Session, achievement_id: int) -> Achievement:
    found = session.scalars(
        select(Achievement).where(Achievement.id == achievement_id, _in_course(scope()))
    ).one_or_none()
    if found is None:
        abort(404)
    return found


def _editable(achievement: Achievement) -> None:
    if achievement.context_id is None and scope().role != ADMINISTRATOR:
        abort(403, description="Only an administrator can change a platform-wide achievement.")


def _enrolled(current: Scope) -> Select[User]:
    return (
        select(User)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.context_id == current.context_id, User.platform_id == current.platform_id)
    )


def _paged(session: Session, query: Select[Any], per_page: int) -> Page[Any]:
    number = page_number()
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.scalars(query.limit(per_page).offset((number - 1) * per_page)))
    return Page(items, number, per_page, int(total))


def _course_awards(current: Scope, achievement: Achievement) -> Select[Award]:
    return (
        select(Award)
        .join(
            Enrollment,
            and_(Enrollment.user_id == Award.user_id, Enrollment.context_id == current.context_id),
        )
        .where(Award.achievement_id == achievement.id, Award.platform_id == current.platform_id)
        .options(joinedload(Award.learner))
        .order_by(Award.issued_at.desc(), Award.id.desc())
    )


def _award(session: Session, award_id: int) -> Award:
    current = scope()
    found = session.scalars(
        select(Award)
        .join(Achievement, Achievement.id == Award.achievement_id)
        .join(
            Enrollment,
            and_(Enrollment.user_id == Award.user_id, Enrollment.context_id == current.context_id),
        )
        .where(Award.id == award_id, Award.platform_id == current.platform_id, _in_course(current))
    ).one_or_none()
    if found is None:
        abort(404)
    return found


# -- achievements -----------------------------------------------------------------------------


@bp.get("")
def achievements() -> str:
    current = scope()
    show_archived = request.args.get("archived") == "1"
    query = select(Achievement).where(_in_course(current))
    if not show_archived:
        query = query.where(Achievement.archived_at.is_(None))
    page = _paged(
        db_read(), query.order_by(Achievement.name, Achievement.id), ACHIEVEMENTS_PER_PAGE
    )
    return render_template("instructor/achievements.html", page=page, show_archived=show_archived)


def _opt(form: Mapping[str, str], name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def _alignment_rows(form: Mapping[str, str]) -> int:
    try:
        count = int(form.get("alignment_count") or 1)
    except ValueError:
        count = 1
    return max(1, min(count, MAX_ALIGNMENT_ROWS))


def achievement_data(form: Mapping[str, str]) -> tuple[dict[str, Any], list[int]]:
    """The form as the achievement schema wants it; also which form row each alignment is."""
    alignments: list[dict[str, Any]] = []
    rows: list[int] = []
    for i in range(_alignment_rows(form)):
        row = {
            f: _opt(form, f"alignment-{i}-{f}")
            for f in ("target_name", "target_url", "target_framework", "target_code")
        }
        if any(row.values()):
            alignments.append(row)
            rows.append(i)
    result: dict[str, Any] | None = None
    result_type = _opt(form, "result_type")
    if result_type:
        result = {"result_type": result_type, "name": form.get("result_name", "").strip()}
        if result_type == "Percent":
            result["value_min"] = _opt(form, "value_min")
            result["value_max"] = _opt(form, "value_max")
        else:
            levels = [line.strip() for line in form.get("levels", "").splitlines()]
            result["levels"] = [{"name": name} for name in levels if name]
    data = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", "").strip(),
        "criteria_narrative": _opt(form, "criteria_narrative"),
        "criteria_url": _opt(form, "criteria_url"),
        "achievement_type": _opt(form, "achievement_type") or "MicroCredential",
        "tags": [t.strip() for t in form.get("tags", "").split(",") if t.strip()],
        "validity_days": _opt(form, "validity_days"),
        "evidence_required": form.get("evidence_required") == "on",
        "result_description": result,
        "alignments": alignments,
    }
    return data, rows


def _strings(messages: Any) -> list[str]:
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        return [m for value in messages.values() for m in _strings(value)]
    if isinstance(messages, list | tuple):
        return [m for value in messages for m in _strings(value)]
    return [str(messages)]


def field_errors(messages: Mapping[str, Any], rows: list[int]) -> dict[str, list[str]]:
    """marshmallow's nested messages, keyed by the name of the form field they belong to."""
    out: dict[str, list[str]] = {}

    def add(name: str, value: Any) -> None:
        out.setdefault(name, []).extend(_strings(value))

    for key, value in messages.items():
        if key == "alignments" and isinstance(value, Mapping):
            for index, sub in value.items():
                if isinstance(sub, Mapping) and str(index).isdigit() and int(index) < len(rows):
                    for name, text in sub.items():
                        add(f"alignment-{rows[int(index)]}-{name}", text)
                else:
                    add("alignments", sub)
        elif key == "result_description" and isinstance(value, Mapping):
            for name, text in value.items():
                target = {"name": "result_name"}.get(name, name)
                add(target if target in FORM_FIELDS else "result_type", text)
        elif key in FORM_FIELDS or key == "alignments":
            add(key, value)
        else:
            add("_form", value)
    return out


def _form_values(achievement: Achievement | None) -> dict[str, Any]:
    if achievement is None:
        return {"alignment_count": "1", "achievement_type": "MicroCredential"}
    values: dict[str, Any] = {
        "name": achievement.name,
        "description": achievement.description,
        "criteria_narrative": achievement.criteria_narrative or "",
        "criteria_url": achievement.criteria_url or "",
        "achievement_type": achievement.achievement_type,
        "tags": ", ".join(achievement.tags or []),
        "validity_days": str(achievement.validity_days or ""),
        "evidence_required": "on" if achievement.evidence_required else "",
        "alignment_count": str(len(achievement.alignments) + 1),
    }
    result = achievement.result_description or {}
    if result:
        values["result_type"] = result.get("result_type", "")
        values["result_name"] = result.get("name", "")
        values["value_min"] = "" if result.get("value_min") is None else str(result["value_min"])
        values["value_max"] = "" if result.get("value_max") is None else str(result["value_max"])
        values["levels"] = "\n".join(level["name"] for level in result.get("levels") or [])
    for i, alignment in enumerate(achievement.alignments):
        for name in ("target_name", "target_url", "target_framework", "target_code"):
            values[f"alignment-{i}-{name}"] = getattr(alignment, name) or ""
    return values


def _render_form(
    values: Mapping[str, Any],
    *,
    achievement: Achievement | None = None,
    errors: Mapping[str, list[str]] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return (
        render_template(
            "instructor/achievement_form.html",
            achievement=achievement,
            f=values,
            errors=errors or {},
            alignment_rows=_alignment_rows(values),
            achievement_types=ACHIEVEMENT_TYPES,
            result_types=RESULT_TYPES,
        ),
        status,
    )


def _uploaded_image() -> tuple[bytes, str | None] | None:
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return None
    data = upload.read()
    media_type = upload.mimetype if upload.mimetype.startswith("image/") else None
    return data, media_type


def _form_with_more_rows() -> MultiDict[str, str]:
    values = request.form.copy()
    values["alignment_count"] = str(min(_alignment_rows(request.form) + 1, MAX_ALIGNMENT_ROWS))
    return values


@bp.route("/achievements/new", methods=["GET", "POST"])
def new_achievement() -> tuple[str, int] | WerkzeugResponse:
    if request.method == "GET":
        return _render_form(_form_values(None))
    if request.form.get("action") == "add_alignment":
        return _render_form(_form_with_more_rows())
    current = scope()
    data, rows = achievement_data(request.form)
    data["context_id"] = current.context_id
    image = _uploaded_image()
    session = db()
    platform = session.get_one(Platform, current.platform_id)
    try:
        created = achievement_service.create_achievement(
            session,
            platform,
            data,
            actor=_actor(current),
            image=image[0] if image else None,
            image_media_type=image[1] if image else None,
        )
    except ValidationError as exc:
        session.rollback()
        return _render_form(request.form, errors=field_errors(_messages(exc), rows), status=422)
    session.commit()
    return _redirect("instructor.achievement", achievement_id=created.id, notice="created")


def _messages(exc: ValidationError) -> Mapping[str, Any]:
    messages = exc.messages
    return messages if isinstance(messages, Mapping) else {"_form": messages}


@bp.get("/achievements/<int:achievement_id>")
def achievement(achievement_id: int) -> str:
    session = db_read()
    found = _achievement(session, achievement_id)
    page = _paged(session, _course_awards(scope(), found), AWARDS_PER_PAGE)
    return render_template("instructor/achievement.html", a=found, page=page, error=None)


@bp.route("/achievements/<int:achievement_id>/edit", methods=["GET", "POST"])
def edit_achievement(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    if request.method == "GET":
        found = _achievement(db_read(), achievement_id)
        _editable(found)
        return _render_form(_form_values(found), achievement=found)
    session = db()
    found = _achievement(session, achievement_id)
    _editable(found)
    if request.form.get("action") == "add_alignment":
        return _render_form(_form_with_more_rows(), achievement=found)
    data, rows = achievement_data(request.form)
    image = _uploaded_image()
    image_args: dict[str, Any] = {}
    if image is not None:
        image_args = {"image": image[0], "image_media_type": image[1]}
    elif request.form.get("remove_image") == "on":
        image_args = {"image": None}
    try:
        achievement_service.update_achievement(
            session, found, data, actor=_actor(scope()), **image_args
        )
    except ValidationError as exc:
        session.rollback()
        return _render_form(
            request.form,
            achievement=found,
            errors=field_errors(_messages(exc), rows),
            status=422,
        )
    except CredentialError as exc:
        session.rollback()
        return _render_form(
            request.form, achievement=found, errors={"_form": [str(exc)]}, status=409
        )
    session.commit()
    return _redirect("instructor.achievement", achievement_id=found.id, notice="updated")


@bp.post("/achievements/<int:achievement_id>/archive")
def archive(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    session = db()
    found = _achievement(session, achievement_id)
    _editable(found)
    try:
        achievement_service.archive_achievement(
            session, found, actor=_actor(scope()), reason=_opt(request.form, "reason")
        )
    except CredentialError as exc:
        session.rollback()
        return _achievement_error(achievement_id, str(exc), 409)
    session.commit()
    return _redirect("instructor.achievement", achievement_id=found.id, notice="archived")


def _achievement_error(achievement_id: int, message: str, status: int) -> tuple[str, int]:
    session = db_read()
    found = _achievement(session, achievement_id)
    page = _paged(session, _course_awards(scope(), found), AWARDS_PER_PAGE)
    html = render_template("instructor/achievement.html", a=found, page=page, error=message)
    return html, status


# -- awarding ---------------------------------------------------------------------------------


def parse_result(achievement: Achievement, raw: str | None) -> dict[str, Any] | None:
    """The `result` of an award from what an instructor typed (ValueError: what is wrong)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    description = achievement.result_description
    if not description:
        raise ValueError("this achievement records no score; leave it empty")
    if description["result_type"] == "Percent":
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"the score must be a number, not {raw[:40]!r}") from None
        low, high = description.get("value_min", 0.0), description.get("value_max", 100.0)
        if not (low <= value <= high) or value != value:
            raise ValueError(f"the score must be between {low:g} and {high:g}")
        return {"value": value}
    names = [level["name"] for level in description.get("levels") or []]
    if raw not in names:
        raise ValueError("the score must be one of: " + ", ".join(names))
    return {"level": raw}


def _render_award_form(
    found: Achievement, *, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    session = db_read()
    current = scope()
    page = _paged(session, _enrolled(current).order_by(User.name, User.id), LEARNERS_PER_PAGE)
    ids = [user.id for user in page.items]
    held = dict(
        session.execute(
            select(Award.user_id, Award.status).where(
                Award.achievement_id == found.id, Award.user_id.in_(ids)
            )
        ).all()
    )
    roles = dict(
        session.execute(
            select(Enrollment.user_id, Enrollment.role).where(
                Enrollment.context_id == current.context_id, Enrollment.user_id.in_(ids)
            )
        ).all()
    )
    html = render_template(
        "instructor/award_form.html",
        a=found,
        page=page,
        held=held,
        roles=roles,
        error=error,
        f=request.form,
        selected=set(request.form.getlist("user_id")),
    )
    return html, status


@bp.route("/achievements/<int:achievement_id>/award", methods=["GET", "POST"])
def award_learners(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    if request.method == "GET":
        found = _achievement(db_read(), achievement_id)
        return _render_award_form(found)
    current = scope()
    session = db()
    found = _achievement(session, achievement_id)
    try:
        ids = {int(value) for value in request.form.getlist("user_id")}
    except ValueError:
        abort(400)
    if not ids:
        return _render_award_form(found, error="Choose at least one learner.", status=422)
    learners = list(session.scalars(_enrolled(current).where(User.id.in_(ids))))
    if len(learners) != len(ids):
        abort(400, description="Some of the chosen people are not in this course.")
    try:
        result = parse_result(found, request.form.get("score"))
    except ValueError as exc:
        session.rollback()
        return _render_award_form(found, error=f"Score: {exc}.", status=422)
    evidence = Evidence(_opt(request.form, "evidence_url"), _opt(request.form, "evidence_text"))
    created = 0
    try:
        for learner in sorted(learners, key=lambda user: user.id):
            _, new = award_service.award(
                session,
                found,
                learner,
                source="manual",
                actor=_actor(current),
                evidence=evidence,
                result=result,
            )
            created += int(new)
    except ValidationError as exc:
        session.rollback()
        message = "; ".join(f"{k}: {' '.join(_strings(v))}" for k, v in _messages(exc).items())
        return _render_award_form(found, error=message, status=422)
    except CredentialError as exc:
        session.rollback()
        return _render_award_form(found, error=str(exc), status=422)
    session.commit()
    return _redirect(
        "instructor.achievement",
        achievement_id=found.id,
        notice="awarded",
        created=created,
        unchanged=len(learners) - created,
    )


# -- one award: suspend, reinstate, revoke -----------------------------------------------------


@bp.get("/awards/<int:award_id>")
def award_page(award_id: int) -> str:
    return render_template("instructor/award.html", award=_award(db_read(), award_id), errors={})


_NOTICES = {"revoke": "revoked", "suspend": "suspended", "reinstate": "reinstated"}


def _change(session: Session, target: Award, action: str, reason: str, actor: ActorRef) -> None:
    if action == "revoke":
        award_service.revoke(session, target, reason=reason, actor=actor)
    elif action == "suspend":
        award_service.suspend(session, target, reason=reason, actor=actor)
    else:
        award_service.reinstate(session, target, reason=reason, actor=actor)


@bp.post("/awards/<int:award_id>/<action>")
def change_award(award_id: int, action: str) -> tuple[str, int] | WerkzeugResponse:
    if action not in _NOTICES:
        abort(404)
    notice = _NOTICES[action]
    session = db()
    target = _award(session, award_id)
    reason = request.form.get("reason", "")
    try:
        _change(session, target, action, reason, _actor(scope()))
    except ValidationError as exc:
        session.rollback()
        errors = {"reason": _strings(_messages(exc).get("reason", exc.messages))}
        html = render_template(
            "instructor/award.html",
            award=_award(db_read(), award_id),
            errors=errors,
            action=action,
        )
        return html, 422
    except CredentialError as exc:
        session.rollback()
        html = render_template(
            "instructor/award.html",
            award=_award(db_read(), award_id),
            errors={"_form": [str(exc)]},
            action=action,
        )
        return html, 409
    session.commit()
    return _redirect("instructor.award_page", award_id=award_id, notice=notice)


# -- CSV bulk award ----------------------------------------------------------------------------


@bp.route("/achievements/<int:achievement_id>/bulk", methods=["GET", "POST"])
def bulk_award(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    current = scope()
    if request.method == "GET":
        found = _achievement(db_read(), achievement_id)
        return _render_bulk(found, None)
    if request.form.get("action") == "confirm":
        return _bulk_confirm(achievement_id, current)
    found = _achievement(db_read(), achievement_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_bulk(found, None, error="Choose a CSV file to check.", status=422)
    data = upload.read(bulk.MAX_BYTES + 1)
    if len(data) > bulk.MAX_BYTES:
        return _render_bulk(found, None, error=bulk.TOO_LARGE, status=413)
    return _bulk_report(found, current, data, db_read())


def _bulk_report(
    found: Achievement, current: Scope, data: bytes, session: Session
) -> tuple[str, int]:
    try:
        raw_rows = bulk.parse_csv(data)
    except bulk.BulkFileError as exc:
        return _render_bulk(found, None, error=str(exc), status=422)
    rows = bulk.check_rows(session, found, raw_rows, current, parse_result)
    payload = base64.b64encode(data).decode("ascii")
    return _render_bulk(found, rows, payload=payload)


def _bulk_confirm(achievement_id: int, current: Scope) -> tuple[str, int] | WerkzeugResponse:
    try:
        data = base64.b64decode(request.form.get("payload", ""), validate=True)
    except (binascii.Error, ValueError):
        abort(400)
    if len(data) > bulk.MAX_BYTES:
        abort(413)
    session = db()
    found = _achievement(session, achievement_id)
    try:
        raw_rows = bulk.parse_csv(data)
    except bulk.BulkFileError as exc:
        session.rollback()
        return _render_bulk(found, None, error=str(exc), status=422)
    rows = bulk.check_rows(session, found, raw_rows, current, parse_result)
    created = 0
    for row in rows:
        if row.problems or row.user_id is None:
            continue
        learner = session.get_one(User, row.user_id)
        try:
            with session.begin_nested():
                _, new = award_service.award(
                    session,
                    found,
                    learner,
                    source="bulk",
                    actor=_actor(current),
                    evidence=Evidence(row.evidence_url),
                    result=row.result,
                    issued_at=row.issued_at,
                )
        except (CredentialError, ValidationError) as exc:
            row.problems.append(str(exc))
            continue
        created += int(new)
    session.commit()
    skipped = sum(1 for row in rows if row.problems)
    return _redirect(
        "instructor.achievement",
        achievement_id=found.id,
        notice="bulk",
        created=created,
        skipped=skipped,
    )


def _render_bulk(
    found: Achievement,
    rows: list[bulk.BulkRow] | None,
    *,
    payload: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    html = render_template(
        "instructor/bulk.html",
        a=found,
        rows=rows,
        ok=[r for r in rows or [] if not r.problems],
        problems=[r for r in rows or [] if r.problems],
        payload=payload,
        error=error,
        max_mb=bulk.MAX_BYTES // (1024 * 1024),
        safe_cell=bulk.safe_cell,
    )
    return html, status


# -- the whole roster (NRPS) -------------------------------------------------------------------


@bp.post("/achievements/<int:achievement_id>/roster")
def roster_award(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    current = scope()
    read = db_read()
    found = _achievement(read, achievement_id)
    if found.archived:
        return _achievement_error(achievement_id, "This achievement is archived.", 409)
    if found.evidence_required:
        return _achievement_error(
            achievement_id,
            "This achievement requires evidence for each learner: use the CSV bulk award.",
            422,
        )
    context = read.get_one(Context, current.context_id)
    nrps = (context.services or {}).get("nrps") or {}
    url = nrps.get("context_memberships_url") if isinstance(nrps, dict) else None
    if not isinstance(url, str) or not url:
        return _achievement_error(
            achievement_id, "The LMS did not offer this course's roster (NRPS) to the tool.", 409
        )
    platform = read.get_one(Platform, current.platform_id)
    key = services().signing_keys.current(read)
    registration = PlatformRegistration(platform, lambda: key)
    # Close the read transaction before talking to the LMS: no transaction stays open across
    # the (possibly many) NRPS page fetches.
    read.rollback()
    try:
        members = list(roster(registration, services().service_tokens, key, url))
    except (LtiServiceException, requests.RequestException) as exc:
        log.warning("NRPS roster of context %s failed: %s", current.context_id, exc)
        return _achievement_error(
            achievement_id, "The LMS did not hand over the course roster. Try again later.", 502
        )
    try:
        created_users, awarded, unchanged = _award_roster(members, achievement_id, current)
    except CredentialError as exc:
        db().rollback()
        return _achievement_error(achievement_id, str(exc), 409)
    return _redirect(
        "instructor.achievement",
        achievement_id=achievement_id,
        notice="roster",
        members=len(members),
        new_users=created_users,
        created=awarded,
        unchanged=unchanged,
    )


def _award_roster(
    members: list[RosterMember], achievement_id: int, current: Scope
) -> tuple[int, int, int]:
    session = db()
    found = _achievement(session, achievement_id)
    subs = [m.sub for m in members]
    known: set[str] = set()
    for start in range(0, len(subs), 500):
        known.update(
            session.scalars(
                select(User.sub).where(
                    User.platform_id == current.platform_id, User.sub.in_(subs[start : start + 500])
                )
            )
        )
    now = utcnow()
    learner_ids: list[int] = []
    for member in members:
        user_id = upsert(
            session,
            User,
            {
                "platform_id": current.platform_id,
                "sub": member.sub[:255],
                "name": member.name[:255],
                "given_name": member.given_name[:255],
                "family_name": member.family_name[:255],
                "email": (member.email or "")[:320] or None,
                "created_at": now,
                "updated_at": now,
            },
            conflict=("platform_id", "sub"),
            update=("name", "given_name", "family_name", "email", "updated_at"),
        )
        role = primary_role(member.roles)
        upsert(
            session,
            Enrollment,
            {
                "context_id": current.context_id,
                "user_id": user_id,
                "roles": list(member.roles)[:50],
                "role": role,
                "updated_at": now,
            },
            conflict=("context_id", "user_id"),
            update=("roles", "role", "updated_at"),
        )
        if role == LEARNER and member.status.lower() == "active":
            learner_ids.append(user_id)
    awarded = 0
    for user_id in learner_ids:
        learner = session.get_one(User, user_id)
        _, new = award_service.award(
            session, found, learner, source="roster", actor=_actor(current)
        )
        awarded += int(new)
    session.commit()
    return len(set(subs) - known), awarded, len(learner_ids) - awarded
