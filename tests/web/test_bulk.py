"""CSV bulk award: the dry run reports per-row problems and writes nothing; the confirmation
awards the good rows (source "bulk"); oversized and unreadable files are refused."""

from __future__ import annotations

import base64
import html
import io
import re
from typing import Any

from sqlalchemy import func, select

from lti_tool.db import Database
from lti_tool.models import AuditEvent, Award
from lti_tool.testplatform import ROLE_LEARNER, TestPlatform
from lti_tool.web.bulk import MAX_BYTES, safe_cell

from ..support.launcher import Launcher
from .conftest import As, awards_of, create, launch_as, text


def upload(teacher: As, aid: int, content: bytes, name: str = "awards.csv") -> Any:
    return teacher.post(
        f"/app/instructor/achievements/{aid}/bulk",
        {"action": "check", "file": (io.BytesIO(content), name, "text/csv")},
        content_type="multipart/form-data",
    )


def rows_of(page: str) -> dict[int, str]:
    return {
        int(line): body
        for line, body in re.findall(r'data-line="(\d+)">(.*?)</tr>', page, flags=re.S)
    }


def count_awards(database: Database) -> int:
    with database.read_session() as session:
        return session.scalar(select(func.count()).select_from(Award)) or 0


def test_dry_run_lists_problems_per_row_and_writes_nothing_then_confirm_awards(
    teacher: As, launcher: Launcher, platform: TestPlatform, database: Database
) -> None:
    for sub, name in [("learner-1", "Ada Lovelace"), ("learner-2", "Bob Byte")]:
        if sub not in platform.members:
            platform.add_member(sub, name, [ROLE_LEARNER])
        launch_as(launcher, sub)
    platform.add_member("learner-3", "Cy Held", [ROLE_LEARNER])
    launch_as(launcher, "learner-3")
    aid = create(teacher, "Scored", result_type="Percent", result_name="Score")
    held = teacher.post(
        f"/app/instructor/achievements/{aid}/award",
        {"user_id": str(_uid(database, "learner-3"))},
    )
    assert held.status_code == 303
    csv_text = (
        "email,user_id,evidence_url,score,issued_date\n"
        "learner-1@example.edu,,https://example.edu/e/1,88,2026-01-15\n"  # 2: ok
        ",learner-2,,,\n"  # 3: ok (by LTI sub)
        "nobody@example.edu,,,,\n"  # 4: unknown learner
        "LEARNER-1@example.edu,,,,\n"  # 5: duplicate of line 2
        ",learner-3,,,\n"  # 6: already awarded
        ",=cmd|' /C calc'!A0,,,\n"  # 7: unknown, formula-looking cell echoed safely
        ",learner-2x,,abc,\n"  # 8: unknown + bad score
        ",,,,\n"  # blank: skipped
        "learner-2@example.edu,,,,31/12/2025\n"  # 10: duplicate + bad date
        ",learner-1,javascript:alert(1),,2999-01-01\n"  # 11: dup, bad URL, future date
    )
    before = count_awards(database)
    response = upload(teacher, aid, csv_text.encode())
    assert response.status_code == 200, text(response)
    page = text(response)
    rows = rows_of(page)
    assert "Will be awarded" in rows[2] and "Will be awarded" in rows[3]
    assert "unknown learner" in rows[4]
    assert "duplicate: the same learner as line 2" in rows[5]
    assert "already awarded (active)" in rows[6]
    assert "unknown learner" in rows[7] and "<td>&#39;=cmd|" in rows[7]
    assert "bad score" in rows[8]
    assert "bad date" in rows[10] and "duplicate" in rows[10]
    assert "bad evidence URL" in rows[11] and "in the future" in rows[11]
    assert 9 not in rows
    assert "2 rows can be awarded; 7 rows have problems" in page
    assert count_awards(database) == before  # the dry run wrote nothing
    with database.read_session() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "award.created")
            )
            == 1
        )

    payload = re.search(r'name="payload" value="([^"]+)"', page)
    assert payload and base64.b64decode(payload.group(1)).decode() == csv_text
    confirm = teacher.post(
        f"/app/instructor/achievements/{aid}/bulk",
        {"action": "confirm", "payload": payload.group(1)},
    )
    assert confirm.status_code == 303, text(confirm)
    assert "created=2" in confirm.location and "skipped=7" in confirm.location
    assert "New awards: 2. Rows skipped: 7." in text(teacher.client.get(confirm.location))
    created = [a for a in awards_of(database, aid) if a.source == "bulk"]
    assert len(created) == 2
    by_evidence = {a.evidence_url: a for a in created}
    first = by_evidence["https://example.edu/e/1"]
    assert first.result == {"value": 88.0}
    assert first.issued_at.date().isoformat() == "2026-01-15"

    # Confirming the same file again awards nothing new.
    again = teacher.post(
        f"/app/instructor/achievements/{aid}/bulk",
        {"action": "confirm", "payload": payload.group(1)},
    )
    assert "created=0" in again.location
    assert len(awards_of(database, aid)) == 3


def _uid(database: Database, sub: str) -> int:
    from .conftest import user_id

    return user_id(database, sub)


def test_file_level_problems(teacher: As, database: Database) -> None:
    aid = create(teacher)
    cases = [
        (b"", "empty"),
        (b"name\nAda\n", "'email' or a 'user_id' column"),
        (b"email\n", "no rows"),
        ("email\nad\xe9@example.edu\n".encode("latin-1"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
    ]
    for content, message in cases:
        response = upload(teacher, aid, content)
        assert response.status_code == 422, content
        assert message in html.unescape(text(response)), content
    # A UTF-8 BOM and semicolons (a spreadsheet's export) are fine.
    ok = upload(teacher, aid, "\ufeffemail;score\nnobody@example.edu;\n".encode())
    assert ok.status_code == 200 and "unknown learner" in text(ok)
    assert count_awards(database) == 0


def test_oversized_csv_is_refused(teacher: As, database: Database) -> None:
    aid = create(teacher)
    line = b"learner-1@example.edu,,,,\n"
    big = b"email,user_id,evidence_url,score,issued_date\n" + line * (MAX_BYTES // len(line) + 10)
    assert len(big) > MAX_BYTES
    response = upload(teacher, aid, big)
    assert response.status_code == 413
    assert count_awards(database) == 0
    # Far beyond the limit: refused before the form is read at all.
    huge = upload(teacher, aid, big * 3)
    assert huge.status_code == 413
    # A forged confirmation with an oversized payload is refused too.
    forged = teacher.post(
        f"/app/instructor/achievements/{aid}/bulk",
        {"action": "confirm", "payload": base64.b64encode(big).decode()},
    )
    assert forged.status_code == 413
    assert count_awards(database) == 0


def test_a_file_just_under_the_limit_is_checked(teacher: As, student: As) -> None:
    aid = create(teacher)
    header = b"email,note\n"
    line = b"learner-1@example.edu," + b"n" * 200 + b"\n"  # under MAX_ROWS rows
    content = header + line * ((MAX_BYTES - len(header)) // len(line))
    assert len(content) <= MAX_BYTES
    response = upload(teacher, aid, content)
    assert response.status_code == 200
    assert "1 row can be awarded" in text(response)
    assert "duplicate: the same learner as line 2" in text(response)


def test_safe_cell() -> None:
    assert safe_cell("=1+2") == "'=1+2"
    assert safe_cell("+44") == "'+44"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("ada@example.edu") == "ada@example.edu"
