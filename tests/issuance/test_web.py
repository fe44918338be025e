"""Public pages: verification page per status, downloads round-trip, /verify refusals, and a
sample through Digital Bazaar's independent verifier."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from lti_tool.credentials import baking, issuance
from lti_tool.db import Database
from lti_tool.openbadges import dataintegrity as DI
from tests.openbadges.test_independent_verifier import JS_DIR

from .conftest import award_one, change, png_bytes

JS_AVAILABLE = (JS_DIR / "node_modules").is_dir() and shutil.which("node") is not None


def js_verify(docs: list[dict[str, Any]], tmp_path: Path, did_docs: dict[str, Any]) -> list[Any]:
    """tests/js/verify.mjs as the OB core tests run it, but at the real current time (our
    credentials are issued now, the shared helper pins a 2025 date)."""
    did_file = tmp_path / "dids.json"
    did_file.write_text(json.dumps(did_docs))
    now = DI.rfc3339(datetime.now(UTC) + timedelta(seconds=5))
    proc = subprocess.run(
        ["node", str(JS_DIR / "verify.mjs"), "--now", now, "--did-docs", str(did_file)],
        input="".join(json.dumps(d) + "\n" for d in docs),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.mark.parametrize(
    ("actions", "expected"),
    [((), "valid"), (("revoke",), "revoked"), (("suspend",), "suspended")],
)
def test_page_shows_status(
    client: FlaskClient,
    database: Database,
    issuer: issuance.CredentialIssuer,
    actions: tuple[str, ...],
    expected: str,
) -> None:
    issued = award_one(database)
    for action in actions:
        change(database, issued.award_id, action)
    page = client.get(f"/credentials/{issued.public_id}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-status="{expected}"' in html
    assert "Python basics" in html and "Ada Lovelace" in html and "Example University" in html
    assert 'property="og:title"' in html and 'property="og:image"' in html
    assert "ada@example.edu" not in html
    assert page.headers["Vary"] == "Accept"


def test_page_shows_expired(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer
) -> None:
    from lti_tool.credentials import awards as svc
    from lti_tool.models import Award
    from tests.credentials.conftest import ADMIN, make_achievement, make_platform, make_user

    with database.session() as s:
        platform = make_platform(s)
        learner = make_user(s, platform, "old", name="Old Timer")
        achievement = make_achievement(s, platform, validity_days=1)
        award, _ = svc.award(
            s,
            achievement,
            learner,
            source="manual",
            actor=ADMIN,
            issued_at=datetime(2020, 1, 1, tzinfo=UTC),
        )
        row = issuance.credential_of_award(s, award.id)
        assert row is not None and s.get(Award, award.id) is not None
        public_id, doc = row.public_id, row.credential
    html = client.get(f"/credentials/{public_id}").get_data(as_text=True)
    assert 'data-status="expired"' in html
    answer = client.post("/verify", json=doc).get_json()
    assert answer["status"] == "expired" and answer["verified"] is False


def test_json_and_jwt_downloads(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer
) -> None:
    issued = award_one(database)
    by_accept = client.get(
        f"/credentials/{issued.public_id}", headers={"Accept": "application/ld+json"}
    )
    assert by_accept.mimetype == "application/ld+json"
    assert by_accept.get_json() == issued.credential
    assert client.get(f"/credentials/{issued.public_id}.json").get_json() == issued.credential
    token = client.get(f"/credentials/{issued.public_id}.jwt").get_data(as_text=True)
    answer = client.post("/verify", data=token, content_type="application/jwt").get_json()
    assert answer["verified"] is True and answer["checks"][0]["check"] == "vc-jwt"
    assert client.get(f"/credentials/{'0' * 32}").status_code == 404
    assert client.get(f"/credentials/{issued.public_id}.exe").status_code == 404


@pytest.mark.parametrize("with_image", [False, True], ids=["default-image", "achievement-png"])
def test_baked_images_round_trip(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer, with_image: bool
) -> None:
    issued = award_one(database, image=png_bytes() if with_image else None)
    png = client.get(f"/credentials/{issued.public_id}.png")
    assert png.mimetype == "image/png"
    svg = client.get(f"/credentials/{issued.public_id}.svg")
    assert svg.mimetype == "image/svg+xml"
    assert b"https://purl.imsglobal.org/ob/v3p0" in svg.data
    document = client.get("/.well-known/did.json").get_json()
    for extracted in (baking.extract_png(png.data), baking.extract_svg(svg.data)):
        assert extracted == issued.credential
        assert DI.verify(extracted, resolver=lambda did: document).verified
        assert client.post("/verify", json=extracted).get_json()["verified"] is True
    if with_image:
        assert client.get(issued.credential["image"]["id"].removeprefix("https://tool.test"))
        html = client.get(f"/credentials/{issued.public_id}").get_data(as_text=True)
        assert "/badge-images/" in html


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "application/json", 400),
        (b"not json at all", "text/plain", 400),
        (b"[1, 2]", "application/json", 422),
        (b'{"hello": "world"}', "application/json", 422),
        (b"\xff\xfe", "application/json", 400),
        (b"aaa.bbb.ccc", "application/jwt", 422),
        (b"credential=x", "application/x-www-form-urlencoded", 415),
        (b"{" + b" " * (300 * 1024) + b"}", "application/json", 413),
    ],
)
def test_verify_refuses_garbage(
    client: FlaskClient,
    issuer: issuance.CredentialIssuer,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    response = client.post("/verify", data=body, content_type=content_type)
    assert response.status_code == status
    problem = response.get_json()
    assert problem["status"] == status and problem["detail"]


def test_verify_did_key_credential_and_foreign_did_web(
    client: FlaskClient, issuer: issuance.CredentialIssuer
) -> None:
    from lti_tool.openbadges.keys import SigningKey
    from tests.openbadges.conftest import build

    key = SigningKey.generate_did_key()
    signed = DI.sign(build(key, 1), key)
    answer = client.post("/verify", json=signed).get_json()
    proof = next(c for c in answer["checks"] if c["check"] == "proof")
    assert proof["result"] == "passed", answer
    foreign = dict(signed)
    foreign["issuer"] = {"id": "did:web:evil.example", "type": ["Profile"], "name": "Evil"}
    answer = client.post("/verify", json=foreign).get_json()
    assert answer["verified"] is False


def test_status_list_and_did_404s(client: FlaskClient, issuer: issuance.CredentialIssuer) -> None:
    assert client.get("/status/revocation/99").status_code == 404
    assert client.get("/status/other/1").status_code == 404
    assert client.get("/.well-known/did.json").status_code == 404  # no key yet
    assert client.get("/did.json").status_code == 404  # public URL has no path


@pytest.mark.skipif(not JS_AVAILABLE, reason="independent JS verifier not installed (tests/js)")
def test_independent_js_verifier(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer, tmp_path: Path
) -> None:
    issued = [award_one(database, f"js-{i}", email=f"js{i}@example.edu") for i in range(3)]
    change(database, issued[0].award_id, "revoke")
    document = client.get("/.well-known/did.json").get_json()
    status_list = client.get("/status/revocation/1").get_json()
    forged = {**issued[1].credential, "name": "Forged"}
    docs = [i.credential for i in issued] + [status_list, forged]
    results = js_verify(docs, tmp_path, {document["id"]: document})
    assert [r["verified"] for r in results] == [True, True, True, True, False], results
