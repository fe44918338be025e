"""Achievement definitions: validation messages, images, alignments, updates, archive."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from marshmallow import ValidationError
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.credentials import AchievementArchived
from lti_tool.credentials.achievements import (
    archive_achievement,
    create_achievement,
    get_achievement,
    issuer_profile,
    list_achievements,
    set_issuer_profile,
    update_achievement,
)
from lti_tool.credentials.errors import CredentialError
from lti_tool.credentials.images import MAX_IMAGE_BYTES, validate_image
from lti_tool.models import Achievement, AchievementImage, AuditEvent, Context, Platform

from .conftest import ADMIN, make_achievement, make_platform

VALID = {
    "name": "Data literacy",
    "description": "Reads and questions charts.",
    "criteria_narrative": "Pass the final quiz with 80%.",
}


def png(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (10, 120, 200, 255)).save(out, format="PNG")
    return out.getvalue()


SVG_OK = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
    b'xmlns:xlink="http://www.w3.org/1999/xlink" width="120" height="120">'
    b'<defs><linearGradient id="g"><stop offset="0"/></linearGradient></defs>'
    b'<circle cx="60" cy="60" r="50" style="fill:url(#g)"/><use xlink:href="#g"/></svg>'
)


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, Any]:
    assert isinstance(exc.value.messages, dict)
    return exc.value.messages


def test_create_with_everything(session: Session, tenant: Platform):
    achievement = create_achievement(
        session,
        tenant,
        {
            **VALID,
            "criteria_url": "https://courses.example.edu/data/criteria",
            "achievement_type": "Badge",
            "tags": ["data", " charts ", "data"],
            "alignments": [
                {
                    "target_name": "Interpret data",
                    "target_url": "http://data.europa.eu/esco/skill/abc",
                    "target_framework": "ESCO",
                    "target_code": "S5.6.1",
                    "target_type": "ceasn:Competency",
                },
                {"target_name": "Statistics", "target_url": "https://www.onetonline.org/x"},
            ],
            "validity_days": 365,
            "evidence_required": True,
            "result_description": {
                "result_type": "RubricCriterionLevel",
                "name": "Mastery",
                "levels": [{"name": "Novice", "points": 1}, {"name": "Expert", "points": 3}],
            },
        },
        actor=ADMIN,
        image=png(),
        image_media_type="image/png",
    )
    session.commit()
    session.expire_all()
    loaded = session.get_one(Achievement, achievement.id)
    assert loaded.tags == ["data", "charts"]
    assert [a.target_framework for a in loaded.alignments] == ["ESCO", None]
    assert loaded.alignments[0].position == 0
    assert loaded.result_description is not None
    assert loaded.result_description["levels"][1]["name"] == "Expert"
    assert loaded.image is not None
    assert (loaded.image.media_type, loaded.image.width, loaded.image.height) == (
        "image/png",
        64,
        64,
    )
    assert loaded.image.data == png()
    assert len(loaded.image.sha256) == 64
    assert loaded.context_id is None and loaded.archived is False


def test_percent_result_description_defaults(session, tenant):
    a = make_achievement(
        session, tenant, result_description={"result_type": "Percent", "name": "Score"}
    )
    assert a.result_description == {
        "result_type": "Percent",
        "name": "Score",
        "value_min": 0.0,
        "value_max": 100.0,
    }


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"description": "d", "criteria_narrative": "c"}, "name", "Missing data"),
        ({"name": "n", "criteria_narrative": "c"}, "description", "Missing data"),
        ({"name": "  ", "description": "d", "criteria_narrative": "c"}, "name", "blank"),
        ({"name": "n", "description": "d"}, "criteria_narrative", "criteria_url"),
        ({**VALID, "criteria_url": "not a url"}, "criteria_url", "Not a valid URL"),
        ({**VALID, "criteria_url": "ftp://x.example/c"}, "criteria_url", "Not a valid URL"),
        ({**VALID, "achievement_type": "Trophy"}, "achievement_type", "ext:"),
        ({**VALID, "validity_days": 0}, "validity_days", "greater than or equal to 1"),
        ({**VALID, "tags": ["x"] * 51}, "tags", "Longer than maximum"),
        (
            {**VALID, "alignments": [{"target_name": "X", "target_url": "javascript:alert(1)"}]},
            "alignments",
            "Not a valid URL",
        ),
        ({**VALID, "alignments": [{"target_url": "https://x.example"}]}, "alignments", "Missing"),
        (
            {
                **VALID,
                "result_description": {
                    "result_type": "Percent",
                    "name": "S",
                    "value_min": 90,
                    "value_max": 10,
                },
            },
            "result_description",
            "value_min < value_max",
        ),
        (
            {**VALID, "result_description": {"result_type": "LetterGrade", "name": "G"}},
            "result_description",
            "needs levels",
        ),
        (
            {**VALID, "result_description": {"result_type": "Stars", "name": "G"}},
            "result_description",
            "Must be one of",
        ),
    ],
)
def test_validation_errors_name_the_field(session, tenant, data, field, text):
    with pytest.raises(ValidationError) as info:
        create_achievement(session, tenant, data, actor=ADMIN)
    assert field in messages(info)
    assert text in str(messages(info)[field])
    assert session.scalars(select(Achievement)).all() == []


def test_custom_achievement_type(session, tenant):
    assert make_achievement(session, tenant, achievement_type="ext:Hackathon").achievement_type


def test_course_scope_must_be_in_the_tenant(session: Session, tenant: Platform):
    other = make_platform(session, 2)
    context = Context(
        platform_id=other.id, deployment_id=other.deployments[0].id, context_id="course-1"
    )
    session.add(context)
    session.flush()
    with pytest.raises(ValidationError) as info:
        create_achievement(session, tenant, {**VALID, "context_id": context.id}, actor=ADMIN)
    assert messages(info) == {"context_id": ["no such course in this platform"]}
    mine = Context(
        platform_id=tenant.id, deployment_id=tenant.deployments[0].id, context_id="course-1"
    )
    session.add(mine)
    session.flush()
    scoped = create_achievement(session, tenant, {**VALID, "context_id": mine.id}, actor=ADMIN)
    wide = make_achievement(session, tenant, "Wide")
    assert {a.id for a in list_achievements(session, tenant, context_id=mine.id)} == {
        scoped.id,
        wide.id,
    }


# -- images ----------------------------------------------------------------------------------


def test_valid_images():
    image = validate_image(png(32, 16))
    assert (image.media_type, image.width, image.height) == ("image/png", 32, 16)
    svg = validate_image(SVG_OK, "image/svg+xml")
    assert (svg.media_type, svg.width, svg.height) == ("image/svg+xml", 120, 120)
    assert svg.data == SVG_OK


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\x00" * 20, "PNG or an SVG"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "PNG or an SVG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "IHDR"),
        (
            b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 6, 0, 0, 0)),
            "each side must be 1 to 4096",
        ),
        (png()[:-20] + b"\x00" * 20, "not a valid PNG"),  # truncated / bad CRC
    ],
)
def test_bad_png_or_wrong_type(data: bytes, text: str):
    with pytest.raises(ValidationError) as info:
        validate_image(data)
    assert text in str(info.value.messages)


def test_oversize_image():
    big = png() + b"\x00" * MAX_IMAGE_BYTES
    with pytest.raises(ValidationError, match="the limit is 1 MB"):
        validate_image(big)


def test_declared_media_type_must_match():
    with pytest.raises(ValidationError, match="declared as image/svg"):
        validate_image(png(), "image/svg+xml")


def _svg(body: str, attrs: str = "") -> bytes:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f"{attrs}>{body}</svg>"
    ).encode()


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (_svg("<script>alert(1)</script>"), "<script>"),
        (_svg("", 'onload="alert(1)"'), "event handlers (onload"),
        (_svg('<rect width="1" height="1" onclick="x()"/>'), "onclick"),
        (_svg('<a href="javascript:alert(1)"><text>x</text></a>'), "javascript:"),
        (_svg('<image href="https://evil.example/track.png"/>'), "external resources"),
        (_svg('<use xlink:href="https://evil.example/s.svg#x"/>'), "external resources"),
        (_svg("<foreignObject><div/></foreignObject>"), "<foreignobject>"),
        (_svg("<style>@import url(https://evil.example/x.css);</style>"), "@import"),
        (_svg('<rect style="fill:url(https://evil.example/x)"/>'), "url(https://evil"),
        (_svg('<set attributeName="href" to="javascript:alert(1)"/>'), "href"),
        (_svg('<animate attributeName="onbegin" to="x"/>'), "must not animate"),
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "boom">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
            "DOCTYPE",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>', "well-formed"),
        (b"<svg><rect/></svg>", "SVG namespace"),
        (b"<html><svg xmlns='http://www.w3.org/2000/svg'/></html>", "root element"),
    ],
)
def test_unsafe_svg_refused(data: bytes, text: str):
    with pytest.raises(ValidationError) as info:
        validate_image(data)
    assert list(info.value.messages) == ["image"]  # type: ignore[arg-type]
    assert text in str(info.value.messages)


def test_create_refuses_a_bad_image(session, tenant):
    with pytest.raises(ValidationError) as info:
        create_achievement(session, tenant, VALID, actor=ADMIN, image=_svg("<script/>"))
    assert "image" in messages(info)
    assert session.scalars(select(Achievement)).all() == []


# -- updates, archive, issuer profile --------------------------------------------------------


def test_update_replaces_fields_image_and_alignments(session: Session, tenant: Platform):
    a = make_achievement(
        session, tenant, alignments=[{"target_name": "X", "target_url": "https://x.example"}]
    )
    update_achievement(
        session,
        a,
        {"name": "Renamed", "alignments": [], "tags": ["new"]},
        actor=ADMIN,
        image=SVG_OK,
    )
    assert (a.name, a.alignments, a.tags) == ("Renamed", [], ["new"])
    assert a.image is not None and a.image.media_type == "image/svg+xml"
    update_achievement(session, a, {}, actor=ADMIN, image=png())
    assert a.image.media_type == "image/png"
    update_achievement(session, a, {}, actor=ADMIN, image=None)
    session.flush()
    assert a.image is None
    assert session.scalars(select(AchievementImage)).all() == []
    events = session.scalars(
        select(AuditEvent.data).where(AuditEvent.action == "achievement.updated")
    ).all()
    assert events[0]["changed"] == ["name", "tags", "alignments", "image"]
    assert events[-1] == {"changed": ["image"], "image_sha256": None}


def test_update_validates_like_create(session, tenant):
    a = make_achievement(session, tenant)
    with pytest.raises(ValidationError) as info:
        update_achievement(session, a, {"criteria_url": "nope"}, actor=ADMIN)
    assert "criteria_url" in messages(info)
    with pytest.raises(ValidationError, match="criteria_narrative"):
        update_achievement(session, a, {"criteria_narrative": None}, actor=ADMIN)
    update_achievement(
        session,
        a,
        {"criteria_narrative": None, "criteria_url": "https://x.example/c"},
        actor=ADMIN,
    )
    assert a.criteria_url == "https://x.example/c"


def test_archive(session, tenant):
    a = make_achievement(session, tenant)
    archive_achievement(session, a, actor=ADMIN, reason="replaced")
    assert a.archived
    with pytest.raises(AchievementArchived, match="already archived"):
        archive_achievement(session, a, actor=ADMIN)
    with pytest.raises(AchievementArchived):
        update_achievement(session, a, {"name": "x"}, actor=ADMIN)
    assert list_achievements(session, tenant) == []
    assert list_achievements(session, tenant, include_archived=True) == [a]


def test_get_achievement_is_tenant_scoped(session, tenant):
    a = make_achievement(session, tenant)
    other = make_platform(session, 2)
    assert get_achievement(session, a.id, platform_id=tenant.id) is a
    with pytest.raises(CredentialError, match="no achievement"):
        get_achievement(session, a.id, platform_id=other.id)


def test_issuer_profile(session: Session, tenant: Platform):
    assert issuer_profile(session, tenant).name == "LMS 1"
    with pytest.raises(ValidationError) as info:
        set_issuer_profile(session, tenant, {"name": "U", "email": "nope"}, actor=ADMIN)
    assert "email" in messages(info)
    set_issuer_profile(
        session,
        tenant,
        {"name": "Example University", "url": "https://example.edu", "email": "badges@example.edu"},
        actor=ADMIN,
    )
    profile = set_issuer_profile(session, tenant, {"name": "Example U"}, actor=ADMIN)
    assert (profile.name, profile.url) == ("Example U", None)
    assert issuer_profile(session, tenant) is profile
