"""CLR 2.0 ``ClrCredential`` building (pure): shape, associations, the bundled credentials
kept intact (each still verifies on its own), and refusals. The CLR 2.0 JSON-LD context is
not available to this project, so signing a CLR with only the bundled contexts must fail
(an unknown context is an error, never a download)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from lti_tool.openbadges import clr as CLR
from lti_tool.openbadges import credential as C
from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges.canonical import CanonicalizationFailed
from lti_tool.openbadges.contexts import BUNDLED_CONTEXT_FILES, OB_V3P0_303, VC_V2
from lti_tool.openbadges.keys import SigningKey

from .conftest import ACHIEVEMENT, VALID_FROM, build, make_issuer

PROGRAM = "https://example.edu/achievements/data-program"


def _signed(key: SigningKey, achievement_id: str, name: str, i: int) -> dict[str, Any]:
    achievement = dataclasses.replace(ACHIEVEMENT, id=achievement_id, name=name)
    return DI.sign(build(key, i, achievement=achievement), key)


@pytest.fixture
def stack(signing_key: SigningKey) -> tuple[dict[str, Any], list[CLR.Component]]:
    program = _signed(signing_key, PROGRAM, "Data program", 0)
    parts = [
        CLR.Component(_signed(signing_key, f"https://example.edu/achievements/{n}", n, i), PROGRAM)
        for i, n in enumerate(["python", "sql"], start=1)
    ]
    return program, parts


def _clr(key: SigningKey, program: dict[str, Any], parts: list[CLR.Component]) -> dict[str, Any]:
    return CLR.build_clr_credential(
        credential_id="https://tool.test/clr/1",
        issuer=make_issuer(key),
        name="Data program: Comprehensive Learner Record",
        recipient=C.Recipient(
            email="ada@example.edu", lti_user_id="u1", lti_platform_id="https://lms"
        ),
        salt="00" * 16,
        valid_from=VALID_FROM,
        credentials=[program, *(p.credential for p in parts)],
        associations=CLR.stack_associations(parts),
    )


def test_clr_shape(signing_key: SigningKey, stack: Any) -> None:
    program, parts = stack
    clr = _clr(signing_key, program, parts)
    assert clr["@context"] == [VC_V2, CLR.CLR_V2P0, OB_V3P0_303]
    assert clr["type"] == ["VerifiableCredential", "ClrCredential"]
    assert clr["issuer"]["id"] == signing_key.controller
    assert clr["validFrom"] == "2025-06-01T12:00:00Z"
    subject = clr["credentialSubject"]
    assert subject["type"] == ["ClrSubject"]
    assert [i["identityType"] for i in subject["identifier"]] == [
        "emailAddress",
        "ltiUserId",
        "ltiPlatformId",
    ]
    assert "ada@example.edu" not in json.dumps(clr)  # hashed only
    assert [a["id"] for a in subject["achievement"]] == [
        PROGRAM,
        "https://example.edu/achievements/python",
        "https://example.edu/achievements/sql",
    ]
    assert subject["verifiableCredential"] == [program, *(p.credential for p in parts)]
    associations = {
        (a["associationType"], a["sourceId"], a["targetId"]) for a in subject["association"]
    }
    assert associations == {
        ("isChildOf", "https://example.edu/achievements/python", PROGRAM),
        ("isParentOf", PROGRAM, "https://example.edu/achievements/python"),
        ("isChildOf", "https://example.edu/achievements/sql", PROGRAM),
        ("isParentOf", PROGRAM, "https://example.edu/achievements/sql"),
    }
    assert all(a["type"] == "Association" for a in subject["association"])


def test_bundled_credentials_still_verify(signing_key: SigningKey, stack: Any) -> None:
    program, parts = stack
    clr = _clr(signing_key, program, parts)
    for credential in clr["credentialSubject"]["verifiableCredential"]:
        assert DI.verify(credential).verified
    tampered = json.loads(json.dumps(clr["credentialSubject"]["verifiableCredential"][1]))
    tampered["credentialSubject"]["achievement"]["name"] = "Forged"
    assert not DI.verify(tampered).verified


def test_signing_without_the_clr_context_is_refused(signing_key: SigningKey, stack: Any) -> None:
    program, parts = stack
    assert CLR.CLR_V2P0 not in BUNDLED_CONTEXT_FILES  # not available locally: not invented
    with pytest.raises(CanonicalizationFailed):
        DI.sign(_clr(signing_key, program, parts), signing_key)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"credentials": []}, "at least one credential"),
        (
            {"associations": (CLR.Association("isChildOf", "https://x/a", PROGRAM),)},
            "not in the bundled credentials",
        ),
        ({"recipient": C.Recipient()}, "recipient needs"),
    ],
)
def test_refusals(
    signing_key: SigningKey, stack: Any, change: dict[str, Any], message: str
) -> None:
    program, parts = stack
    kwargs: dict[str, Any] = {
        "credential_id": "urn:uuid:1",
        "issuer": make_issuer(signing_key),
        "name": "x",
        "recipient": C.Recipient(lti_user_id="u1"),
        "salt": "00",
        "valid_from": VALID_FROM,
        "credentials": [program, *(p.credential for p in parts)],
        "associations": CLR.stack_associations(parts),
        **change,
    }
    with pytest.raises(ValueError, match=message):
        CLR.build_clr_credential(**kwargs)


def test_association_values_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown associationType"):
        CLR.Association("isCousinOf", "https://x/a", "https://x/b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two different"):
        CLR.Association("isChildOf", "https://x/a", "https://x/a")


def test_credential_without_achievement_is_refused() -> None:
    with pytest.raises(ValueError, match="no achievement"):
        CLR.achievement_of({"id": "urn:x", "credentialSubject": {}})


def test_context_document_must_be_a_context() -> None:
    with pytest.raises(CLR.ClrContextError):
        CLR.clr_document_loader({"not": "a context"})
