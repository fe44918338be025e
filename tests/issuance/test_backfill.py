"""Backfill: awards made before issuance existed (or while it failed) get their credential,
in batches, once; `microcred credentials backfill` runs it as an operator would."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from lti_tool.cli import main
from lti_tool.credentials import awards as svc
from lti_tool.credentials import issuance
from lti_tool.credentials.issuance import CredentialIssuer, IssuanceConfig
from lti_tool.db import Database
from lti_tool.models import Award, IssuedCredential
from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges.schema import validate_achievement_credential
from lti_tool.secretbox import SecretBox
from tests.conftest import SECRET_KEY, TOOL_URL
from tests.credentials.conftest import ADMIN, make_achievement, make_platform, make_user


def awards_without_issuance(
    database: Database, monkeypatch: pytest.MonkeyPatch, count: int
) -> list[int]:
    """``count`` active awards and one revoked award, made while no listener issued."""
    with monkeypatch.context() as patch:
        patch.setattr(svc, "award_listeners", [])
        with database.session() as s:
            platform = make_platform(s)
            achievement = make_achievement(s, platform)
            ids = []
            for i in range(count + 1):
                learner = make_user(s, platform, f"old-{i}", email=f"old{i}@example.edu")
                award, _ = svc.award(s, achievement, learner, source="manual", actor=ADMIN)
                ids.append(award.id)
            svc.revoke(s, s.get_one(Award, ids[-1]), reason="mistake", actor=ADMIN)
    return ids


def issued_count(database: Database) -> int:
    with database.read_session() as s:
        return s.scalar(select(func.count()).select_from(IssuedCredential)) or 0


def make_issuer() -> CredentialIssuer:
    return CredentialIssuer(IssuanceConfig(public_url=TOOL_URL, box=SecretBox(SECRET_KEY)))


def test_backfill_batches_are_idempotent(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = awards_without_issuance(database, monkeypatch, 5)
    assert issued_count(database) == 0
    issuer = make_issuer()
    after, batches = 0, []
    while True:
        with database.session() as s:
            rows = issuance.backfill_batch(s, issuer, batch=2, after_id=after)
            if not rows:
                break
            batches.append([r.award_id for r in rows])
            after = max(r.award_id for r in rows)
    assert batches == [ids[0:2], ids[2:4], ids[4:5]]  # the revoked award is left alone
    with database.session() as s:
        assert issuance.backfill_batch(s, issuer, batch=10) == []
        document = issuer.did_document(s)
        assert document is not None
        for award_id in ids[:5]:
            row = issuance.credential_of_award(s, award_id)
            assert row is not None
            assert DI.verify(row.credential, resolver=lambda did: document).verified
            assert validate_achievement_credential(row.credential).valid
            assert issuance.live_status(row) == issuance.VALID
        assert issuance.credential_of_award(s, ids[5]) is None
    with database.session() as s, pytest.raises(ValueError, match="batch"):
        issuance.backfill_batch(s, issuer, batch=0)


def test_backfill_command(
    database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    awards_without_issuance(database, monkeypatch, 3)
    monkeypatch.setenv("MICROCRED_DATABASE_URL", database.url)
    monkeypatch.setenv("MICROCRED_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("MICROCRED_PUBLIC_URL", TOOL_URL)
    monkeypatch.setenv("MICROCRED_INSTANCE_PATH", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(main, ["credentials", "backfill", "--batch", "2"])
    assert first.exit_code == 0, first.output
    assert "Backfill done: 3 credential(s) issued." in first.output
    assert first.output.count("Issued ") == 2
    assert issued_count(database) == 3
    again = runner.invoke(main, ["credentials", "backfill"])
    assert again.exit_code == 0 and "Backfill done: 0 credential(s)" in again.output
    assert issued_count(database) == 3
    refused = runner.invoke(main, ["credentials", "backfill", "--batch", "0"])
    assert refused.exit_code == 2 and "--batch" in refused.output
