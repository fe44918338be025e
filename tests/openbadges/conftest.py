"""Shared fixtures and hypothesis strategies for the Open Badges core tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import strategies as st

from lti_tool.openbadges import credential as C
from lti_tool.openbadges.keys import SigningKey

FIXED_SEED = bytes(range(32))


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return SigningKey.for_did_key(Ed25519PrivateKey.from_private_bytes(FIXED_SEED))


def make_issuer(key: SigningKey) -> C.IssuerProfile:
    return C.IssuerProfile(
        id=key.controller,
        name="Example University",
        url="https://example.edu",
        email="badges@example.edu",
        image=C.Image("https://example.edu/logo.png", caption="Logo"),
    )


ACHIEVEMENT = C.Achievement(
    id="https://example.edu/achievements/python-101",
    name="Python 101",
    description="Introduction to programming in Python.",
    criteria_narrative="Score at least 70% in the final assessment.",
    criteria_id="https://example.edu/achievements/python-101/criteria",
    achievement_type="MicroCredential",
    image=C.Image("https://example.edu/img/python-101.png"),
    alignments=(
        C.Alignment(
            target_name="Programming",
            target_url="https://esco.example/skill/programming",
            target_type="CTDL",
            target_framework="ESCO",
            target_code="S1.2.3",
        ),
    ),
    result_descriptions=(
        C.ResultDescription(
            id="https://example.edu/achievements/python-101/results/score",
            name="Final score",
            result_type="Percent",
            value_min="0",
            value_max="100",
        ),
    ),
    tags=("python", "programming"),
    human_code="PY101",
)

VALID_FROM = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def build(key: SigningKey, i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A typical credential for learner ``i``."""
    kwargs: dict[str, Any] = {
        "credential_id": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
        "issuer": make_issuer(key),
        "achievement": ACHIEVEMENT,
        "recipient": C.Recipient(
            email=f"learner{i}@example.edu",
            lti_user_id=f"user-{i}",
            lti_platform_id="https://canvas.example.edu",
        ),
        "salt": f"{i:032x}",
        "valid_from": VALID_FROM,
        "results": (
            C.Result(
                result_description="https://example.edu/achievements/python-101/results/score",
                value=str(70 + i % 30),
            ),
        ),
        "status": (
            C.StatusEntry(
                id=f"https://example.edu/status/1#{i}",
                purpose="revocation",
                index=i,
                list_credential="https://example.edu/status/1",
            ),
        ),
    }
    kwargs.update(overrides)
    return C.build_achievement_credential(**kwargs)


@pytest.fixture
def credential_factory(signing_key: SigningKey) -> Callable[..., dict[str, Any]]:
    def factory(i: int = 0, **overrides: Any) -> dict[str, Any]:
        return build(signing_key, i, **overrides)

    return factory


# ----------------------------------------------------------------------------- strategies

#: Printable text without control characters (pyld's own N-Quads escaping differs from
#: RDFC-1.0 there) and BMP only (pyld sorts by code point, rdf-canonize by UTF-16 unit).
plain_text = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFFFF, exclude_categories=("Cs", "Cc")
    ),
    min_size=0,
    max_size=30,
)
#: Anything, including control characters and astral code points.
any_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)),
    min_size=0,
    max_size=30,
)
slug = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
iri = st.builds(lambda s: f"https://example.org/{s}", slug) | st.builds(
    lambda s: f"urn:uuid:{s}", slug
)
dids = st.builds(lambda s: f"did:example:{s}", slug)


@st.composite
def credentials(draw: st.DrawFn, key: SigningKey, text: st.SearchStrategy[str]) -> dict[str, Any]:
    """Generated OB credentials: learner data varies, and so does the shape."""
    learner = C.Recipient(
        email=draw(st.none() | text.map(lambda t: t + "@example.edu")),
        lti_user_id=draw(st.none() | text.filter(bool)),
        lti_platform_id=draw(st.none() | iri),
        did=draw(st.none() | dids),
    )
    if not learner.identities() and not learner.did:
        learner = C.Recipient(lti_user_id="fallback")
    n_evidence = draw(st.integers(0, 3))
    evidence = tuple(
        C.Evidence(
            id=draw(st.none() | iri),
            narrative=draw(st.none() | text),
            name=draw(st.none() | text),
        )
        for _ in range(n_evidence)
    )
    results = tuple(
        C.Result(
            result_description=ACHIEVEMENT.result_descriptions[0].id,
            value=draw(text),
            status=draw(st.none() | st.sampled_from(["Completed", "Enrolled"])),
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    status = tuple(
        C.StatusEntry(
            id=draw(iri) + "#s",
            purpose="revocation",
            index=draw(st.integers(0, 131_071)),
            list_credential="https://example.edu/status/1",
        )
        for _ in range(draw(st.integers(0, 1)))
    )
    valid_from = VALID_FROM + timedelta(seconds=draw(st.integers(0, 10**7)))
    valid_until = draw(st.none() | st.just(valid_from + timedelta(days=365)))
    name = draw(st.none() | text.filter(bool))
    achievement_type = draw(st.sampled_from(["MicroCredential", "Badge", "ext:Custom"]))
    achievement = C.Achievement(
        id=ACHIEVEMENT.id,
        name=ACHIEVEMENT.name,
        description=ACHIEVEMENT.description,
        criteria_narrative=ACHIEVEMENT.criteria_narrative,
        achievement_type=achievement_type,
        result_descriptions=ACHIEVEMENT.result_descriptions,
        alignments=ACHIEVEMENT.alignments,
        tags=tuple(draw(st.lists(text, max_size=3))),
    )
    return C.build_achievement_credential(
        credential_id=draw(iri),
        issuer=make_issuer(key),
        achievement=achievement,
        recipient=learner,
        salt=draw(text),
        valid_from=valid_from,
        valid_until=valid_until,
        results=results,
        evidence=evidence,
        status=status,
        options=C.CredentialOptions(name=name),
    )
