"""CSV bulk award: upload, dry run listing every row's problems, then confirm.

The confirmation re-posts the checked file and checks it again in the write transaction;
only rows without problems are awarded (each in a savepoint, so one refusal skips one row).
"""

from __future__ import annotations

import base64
import binascii

from flask import abort, render_template, request
from marshmallow import ValidationError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from ...credentials import CredentialError
from ...credentials import awards as award_service
from ...credentials.awards import Evidence
from ...models import Achievement, User
from ...requestscope import db, db_read
from .. import bulk
from ..scope import Scope, scope
from .blueprint import bp
from .common import actor, redirect_to
from .forms import parse_result
from .queries import course_achievement


@bp.route("/achievements/<int:achievement_id>/bulk", methods=["GET", "POST"])
def bulk_award(achievement_id: int) -> tuple[str, int] | WerkzeugResponse:
    current = scope()
    if request.method == "GET":
        found = course_achievement(db_read(), achievement_id)
        return _render_bulk(found, None)
    if request.form.get("action") == "confirm":
        return _bulk_confirm(achievement_id, current)
    found = course_achievement(db_read(), achievement_id)
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
    found = course_achievement(session, achievement_id)
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
                    actor=actor(current),
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
    return redirect_to(
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
