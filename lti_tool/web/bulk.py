"""CSV bulk award: read the file, check every row against the course, report per row.

Nothing here writes: the dry run and the confirmation both call `check_rows`; only rows
without problems are awarded, by the view, after the instructor confirmed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Achievement, Award, Enrollment, User, utcnow
from .scope import Scope

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 10_000
# The confirmation re-posts the checked file base64-encoded (4/3 of its size) in a form field.
FORM_LIMIT = MAX_BYTES * 4 // 3 + 64 * 1024
REQUEST_LIMIT = FORM_LIMIT + 64 * 1024
TOO_LARGE = f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it and try again."

_ALIASES = {
    "email": ("email", "e-mail", "mail", "email_address"),
    "sub": ("user_id", "userid", "sub", "lti_sub", "lti_user_id", "user"),
    "evidence_url": ("evidence_url", "evidence", "evidence_link"),
    "score": ("score", "result", "grade"),
    "issued": ("issued_date", "issued", "issued_at", "date", "issued_on"),
}
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "|", "%")


class BulkFileError(Exception):
    """The file as a whole cannot be used (not CSV, not UTF-8, no identifier column)."""


@dataclass
class RawRow:
    line: int
    email: str
    sub: str
    evidence_url: str
    score: str
    issued: str


@dataclass
class BulkRow:
    line: int
    identifier: str
    user_id: int | None = None
    learner_name: str = ""
    evidence_url: str | None = None
    result: dict[str, Any] | None = None
    issued_at: datetime | None = None
    problems: list[str] = field(default_factory=list)


def safe_cell(value: str) -> str:
    """A cell echoed back can be pasted into a spreadsheet: never let it start a formula."""
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    for index, name in enumerate(header):
        if name in names:
            return index
    return None


def parse_csv(data: bytes) -> list[RawRow]:
    if not data.strip():
        raise BulkFileError("The file is empty.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BulkFileError(
            f"The file is not UTF-8 text (byte {exc.start + 1} cannot be read). "
            "Save it as 'CSV UTF-8' and try again."
        ) from None
    if "\x00" in text:
        raise BulkFileError("The file is not a CSV text file.")
    try:
        sample = text[:4096]
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = [cell.strip().lower().replace(" ", "_") for cell in next(reader)]
    except StopIteration:
        raise BulkFileError("The file is empty.") from None
    except csv.Error as exc:
        raise BulkFileError(f"The file is not valid CSV: {exc}.") from None
    columns = {key: _column(header, names) for key, names in _ALIASES.items()}
    if columns["email"] is None and columns["sub"] is None:
        raise BulkFileError(
            "The first row must name the columns, with an 'email' or a 'user_id' column "
            "(optional: evidence_url, score, issued_date)."
        )

    def cell(row: list[str], key: str) -> str:
        index = columns[key]
        return row[index].strip() if index is not None and index < len(row) else ""

    rows: list[RawRow] = []
    try:
        for row in reader:
            if not any(value.strip() for value in row):
                continue
            if len(rows) >= MAX_ROWS:
                raise BulkFileError(f"The file has more than {MAX_ROWS:,} rows: split it.")
            rows.append(
                RawRow(
                    reader.line_num,
                    cell(row, "email"),
                    cell(row, "sub"),
                    cell(row, "evidence_url"),
                    cell(row, "score"),
                    cell(row, "issued"),
                )
            )
    except csv.Error as exc:
        raise BulkFileError(f"Line {reader.line_num} is not valid CSV: {exc}.") from None
    if not rows:
        raise BulkFileError("The file has a header but no rows.")
    return rows


def parse_issued(value: str, now: datetime) -> datetime:
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"bad date {value[:40]!r}: use YYYY-MM-DD") from None
    if parsed > now:
        raise ValueError("the issued date is in the future")
    if parsed.year < 1970:
        raise ValueError("the issued date is before 1970")
    return parsed


def _evidence_problem(url: str) -> str | None:
    from schemas.credentials.awards import AwardInputSchema

    try:
        AwardInputSchema().load({"source": "bulk", "evidence_url": url})
    except ValidationError:
        return f"bad evidence URL {url[:80]!r}: give an http(s) address"
    return None


def check_rows(
    session: Session,
    achievement: Achievement,
    raw_rows: list[RawRow],
    scope: Scope,
    parse_result: Callable[[Achievement, str | None], dict[str, Any] | None],
) -> list[BulkRow]:
    """Resolve each row to a learner enrolled in the course and list what is wrong."""
    enrolled = list(
        session.scalars(
            select(User)
            .join(Enrollment, Enrollment.user_id == User.id)
            .where(Enrollment.context_id == scope.context_id, User.platform_id == scope.platform_id)
        )
    )
    by_sub = {user.sub: user for user in enrolled}
    by_email: dict[str, list[User]] = {}
    for user in enrolled:
        if user.email:
            by_email.setdefault(user.email.strip().lower(), []).append(user)
    awarded = dict(
        session.execute(
            select(Award.user_id, Award.status).where(Award.achievement_id == achievement.id)
        ).all()
    )
    now = utcnow()
    seen: dict[int, int] = {}
    checked: list[BulkRow] = []
    for raw in raw_rows:
        row = BulkRow(raw.line, raw.sub or raw.email)
        learner: User | None = None
        if raw.sub:
            learner = by_sub.get(raw.sub)
            if learner is None:
                row.problems.append("unknown learner: no one in this course has this user id")
        elif raw.email:
            matches = by_email.get(raw.email.lower(), [])
            if len(matches) > 1:
                row.problems.append("several people in this course share this email address")
            elif matches:
                learner = matches[0]
            else:
                row.problems.append("unknown learner: no one in this course has this email")
        else:
            row.problems.append("no email or user id")
        if learner is not None:
            row.user_id = learner.id
            row.learner_name = learner.display_name
            if learner.id in seen:
                row.problems.append(f"duplicate: the same learner as line {seen[learner.id]}")
            else:
                seen[learner.id] = raw.line
            if learner.id in awarded:
                row.problems.append(f"already awarded ({awarded[learner.id]})")
        if raw.evidence_url:
            problem = _evidence_problem(raw.evidence_url)
            if problem:
                row.problems.append(problem)
            else:
                row.evidence_url = raw.evidence_url
        elif achievement.evidence_required:
            row.problems.append("this achievement requires evidence: give an evidence_url")
        try:
            row.result = parse_result(achievement, raw.score)
        except ValueError as exc:
            row.problems.append(f"bad score: {exc}")
        if raw.issued:
            try:
                row.issued_at = parse_issued(raw.issued, now)
            except ValueError as exc:
                row.problems.append(str(exc))
        if achievement.archived:
            row.problems.append("the achievement is archived")
        checked.append(row)
    return checked
