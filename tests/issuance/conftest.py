"""Fixtures for credential issuance: an app (which installs the issuer as the award listener),
a tenant with a learner and an achievement. Runs on SQLite and, with
MICROCRED_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from PIL import Image

from lti_tool.credentials import awards as svc
from lti_tool.credentials import issuance
from lti_tool.credentials.achievements import create_achievement, set_issuer_profile
from lti_tool.db import Database
from lti_tool.models import Award, IssuedCredential
from tests.credentials.conftest import ADMIN, make_achievement, make_platform, make_user


@dataclass
class Issued:
    award_id: int
    public_id: str
    credential: dict[str, Any]


@pytest.fixture
def issuer(app: Flask) -> issuance.CredentialIssuer:
    found = issuance.installed()
    assert found is not None and found is app.extensions["microcred.issuer"]
    return found


def png_bytes(color: str = "red", size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="PNG")
    return out.getvalue()


def award_one(
    database: Database,
    sub: str = "learner-1",
    *,
    email: str | None = "ada@example.edu",
    image: bytes | None = None,
    **achievement_fields: Any,
) -> Issued:
    with database.session() as s:
        platform = make_platform(s)
        set_issuer_profile(
            s, platform, {"name": "Example University", "url": "https://example.edu"}, actor=ADMIN
        )
        learner = make_user(s, platform, sub, email=email, name="Ada Lovelace")
        if image is None:
            achievement = make_achievement(s, platform, **achievement_fields)
        else:
            data = {"name": "Imaged", "description": "Has an image.", "criteria_narrative": "Do."}
            achievement = create_achievement(
                s, platform, data, actor=ADMIN, image=image, image_media_type="image/png"
            )
        award, created = svc.award(s, achievement, learner, source="manual", actor=ADMIN)
        assert created
        issued = issuance.credential_of_award(s, award.id)
        assert issued is not None
        return Issued(award.id, issued.public_id, issued.credential)


def change(database: Database, award_id: int, action: str) -> None:
    with database.session() as s:
        award = s.get_one(Award, award_id)
        if action == "revoke":
            svc.revoke(s, award, reason="plagiarism", actor=ADMIN)
        elif action == "suspend":
            svc.suspend(s, award, reason="under review", actor=ADMIN)
        elif action == "reinstate":
            svc.reinstate(s, award, actor=ADMIN)
        else:  # pragma: no cover
            raise ValueError(action)


def stored(database: Database, award_id: int) -> IssuedCredential:
    with database.session() as s:
        row = issuance.credential_of_award(s, award_id)
        assert row is not None
        s.expunge(row)
        return row
