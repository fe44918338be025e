"""LinkedIn Add-to-Profile: the URL (pure, property-tested), the learner buttons, the use
record and the removal banner, the tenant's organization id on the public page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from lti_tool.cli import main
from lti_tool.db import Database
from lti_tool.linkedin import accounts
from lti_tool.linkedin.add_to_profile import Certification, add_to_profile_url
from lti_tool.models import Award, IssuedCredential
from lti_tool.models.linkedin import LinkedInUse
from lti_tool.platforms import add_platform

from ..conftest import SECRET_KEY
from .conftest import As, awards_of, create, text, user_id

texts = st.text(min_size=1, max_size=80).filter(lambda s: s.strip() == s and s)
dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))


def parsed(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.linkedin.com", "/profile/add")
    return parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)


@given(
    name=texts,
    organization=texts,
    cert_id=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    issued=dates,
    expires=st.none() | dates,
    path=st.text(min_size=0, max_size=30),
)
def test_values_round_trip_through_urllib(
    name: str, organization: str, cert_id: str, issued: date, expires: date | None, path: str
) -> None:
    page = "https://badges.example.edu/credentials/" + path
    url = add_to_profile_url(
        Certification(
            name=name,
            organization_name=organization,
            cert_url=page,
            cert_id=cert_id,
            issued_on=issued,
            expires_on=expires,
        )
    )
    query = parsed(url)
    expected = {
        "startTask": ["CERTIFICATION_NAME"],
        "name": [name],
        "organizationName": [organization],
        "issueYear": [str(issued.year)],
        "issueMonth": [str(issued.month)],
        "certUrl": [page],
        "certId": [cert_id],
    }
    if expires is not None:
        expected |= {"expirationYear": [str(expires.year)], "expirationMonth": [str(expires.month)]}
    assert query == expected
    assert " " not in url and "#" not in urlsplit(url).query.replace("%23", "")


def test_organization_id_replaces_the_name() -> None:
    cert = Certification(
        name="Data & Analytics #1",
        organization_name="Université d'Été",
        cert_url="https://x.example/credentials/abc?x=1&y=2",
        cert_id="abc",
        issued_on=datetime(2026, 3, 5, tzinfo=UTC),
        organization_id=" 1337 ",
    )
    query = parsed(add_to_profile_url(cert))
    assert query["organizationId"] == ["1337"]
    assert "organizationName" not in query
    assert query["name"] == ["Data & Analytics #1"]
    assert query["certUrl"] == ["https://x.example/credentials/abc?x=1&y=2"]
    assert "expirationYear" not in query


def test_organization_id_must_be_digits(database: Database) -> None:
    with database.session() as session, pytest.raises(ValueError, match="number"):
        accounts.set_organization_id(session, 1, "acme-corp")


# -- learner pages ----------------------------------------------------------------------------


def give(teacher: As, name: str, sub: str = "learner-1") -> int:
    aid = create(teacher, name)
    learner = str(user_id(teacher.database, sub))
    response = teacher.post(f"/app/instructor/achievements/{aid}/award", {"user_id": learner})
    assert response.status_code == 303, text(response)
    return awards_of(teacher.database, aid)[0].id


def issued_of(database: Database, award_id: int) -> IssuedCredential:
    with database.read_session() as session:
        row = session.scalars(
            select(IssuedCredential).where(IssuedCredential.award_id == award_id)
        ).one()
        session.expunge_all()
        return row


def test_button_opens_linkedin_in_a_new_tab_and_records_the_use(
    teacher: As, student: As, database: Database
) -> None:
    award_id = give(teacher, "Data & Analytics")
    page = text(student.get("/app/me"))
    assert 'data-testid="linkedin-add"' in page
    assert 'target="_blank" rel="noopener"' in page
    assert 'data-testid="linkedin-share"' not in page  # no LinkedIn app configured
    detail = text(student.get(f"/app/me/credentials/{award_id}"))
    assert "Add to LinkedIn profile" in detail

    response = student.get(f"/app/me/linkedin/{award_id}/profile")
    assert response.status_code == 303
    query = parsed(response.location)
    public_id = issued_of(database, award_id).public_id
    assert query["name"] == ["Data & Analytics"]
    assert query["certId"] == [public_id]
    assert query["certUrl"][0].endswith(f"/credentials/{public_id}")
    assert "organizationName" in query
    student.get(f"/app/me/linkedin/{award_id}/profile")  # a second click adds no second row
    with database.read_session() as session:
        uses = list(session.scalars(select(LinkedInUse).where(LinkedInUse.award_id == award_id)))
        assert [(u.kind, u.post_urn) for u in uses] == [("profile", None)]


def test_other_learners_award_is_not_found(teacher: As, student: As) -> None:
    award_id = give(teacher, "Not yours", sub="teacher-1")
    assert student.get(f"/app/me/linkedin/{award_id}/profile").status_code == 404
    assert student.get("/app/me/linkedin/999999/profile").status_code == 404


def test_revoked_credential_on_linkedin_shows_the_removal_banner(
    teacher: As, student: As, database: Database
) -> None:
    used = give(teacher, "Shared badge")
    unused = give(teacher, "Never shared")
    assert student.get(f"/app/me/linkedin/{used}/profile").status_code == 303
    assert 'data-testid="linkedin-removal"' not in text(student.get("/app/me"))
    for award_id in (used, unused):
        teacher.post(f"/app/instructor/awards/{award_id}/revoke", {"reason": "Copied work"})
    page = text(student.get("/app/me"))
    banner = page.split('data-testid="linkedin-removal"', 1)[1].split("</div>", 1)[0]
    assert "Shared badge: revoked" in banner
    assert "Never shared" not in banner
    detail = text(student.get(f"/app/me/credentials/{used}"))
    assert 'data-testid="linkedin-removal"' in detail
    assert 'data-testid="linkedin-add"' not in detail  # no button on a revoked credential
    assert student.get(f"/app/me/linkedin/{used}/profile").status_code == 409
    with database.read_session() as session:
        assert session.get(Award, used).status == "revoked"  # type: ignore[union-attr]


def test_public_page_uses_the_tenant_organization_id(
    teacher: As, student: As, database: Database
) -> None:
    award_id = give(teacher, "Org badge")
    issued = issued_of(database, award_id)
    with database.session() as session:
        accounts.set_organization_id(session, issued.platform_id, "424242")
    page = text(student.client.get(f"/credentials/{issued.public_id}"))  # no session needed
    assert "organizationId=424242" in page
    assert "organizationName=" not in page


def test_cli_sets_and_clears_the_organization_id(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROCRED_DATABASE_URL", database.url)
    monkeypatch.setenv("MICROCRED_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("MICROCRED_INSTANCE_PATH", str(tmp_path))
    with database.session() as session:
        platform = add_platform(
            session,
            issuer="https://lms.example.edu",
            client_id="c1",
            auth_login_url="https://lms.example.edu/auth",
            auth_token_url="https://lms.example.edu/token",
            key_set_url="https://lms.example.edu/jwks",
            deployment_ids=["d1"],
        )[0]
        platform_id = platform.id
    where = ["--issuer", "https://lms.example.edu", "--client-id", "c1"]
    result = CliRunner().invoke(main, ["platforms", "linkedin-org", *where, "1337"])
    assert result.exit_code == 0, result.output
    assert "1337" in result.output
    with database.read_session() as session:
        assert accounts.organization_id(session, platform_id) == "1337"
    bad = CliRunner().invoke(main, ["platforms", "linkedin-org", *where, "acme"])
    assert bad.exit_code != 0 and "number" in bad.output
    unknown = CliRunner().invoke(
        main, ["platforms", "linkedin-org", "--issuer", "x", "--client-id", "y", "1"]
    )
    assert unknown.exit_code != 0 and "no platform registration" in unknown.output
    cleared = CliRunner().invoke(main, ["platforms", "linkedin-org", *where])
    assert "none (name used)" in cleared.output
    with database.read_session() as session:
        assert accounts.organization_id(session, platform_id) is None
