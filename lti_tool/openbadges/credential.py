"""Pure builder for Open Badges 3.0 ``OpenBadgeCredential`` documents (unsigned).

Inputs are plain frozen dataclasses; the output is a JSON-ready ``dict``. No I/O, no clock, no
randomness: ids, salts and dates are arguments (see :func:`new_salt`, :func:`new_credential_id`).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from .contexts import OB_V3P0_303, VC_V2
from .dataintegrity import rfc3339

CONTEXT: Final = (VC_V2, OB_V3P0_303)
#: Published location of the achievement-credential schema (``$id`` of the bundled copy).
ACHIEVEMENT_CREDENTIAL_SCHEMA: Final = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json-ld/ob_v3p0_achievementcredential_schema.json"
SCHEMA_VALIDATOR_TYPE: Final = "1EdTechJsonSchemaValidator2019"

StatusPurpose = Literal["revocation", "suspension"]
IdentityType = Literal[
    "emailAddress", "ltiUserId", "ltiPlatformId", "ltiContextId", "ltiDeploymentId", "sourcedId"
]


@dataclass(frozen=True, slots=True)
class Image:
    id: str
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class IssuerProfile:
    id: str  # the signing DID (did:web / did:key): issuer must control the proof key
    name: str
    url: str | None = None
    email: str | None = None
    description: str | None = None
    image: Image | None = None


@dataclass(frozen=True, slots=True)
class Alignment:
    target_name: str
    target_url: str
    target_type: str | None = None  # e.g. "ceasn:Competency", "CFItem", "CTDL"
    target_framework: str | None = None
    target_code: str | None = None
    target_description: str | None = None


@dataclass(frozen=True, slots=True)
class ResultDescription:
    id: str
    name: str
    result_type: str  # "Percent", "LetterGrade", "RubricCriterionLevel", ... or "ext:..."
    allowed_value: tuple[str, ...] = ()
    required_value: str | None = None
    value_min: str | None = None
    value_max: str | None = None


@dataclass(frozen=True, slots=True)
class Achievement:
    id: str
    name: str
    description: str
    criteria_narrative: str | None = None
    criteria_id: str | None = None
    achievement_type: str | None = None  # "Badge", "MicroCredential", ... or "ext:..."
    image: Image | None = None
    alignments: tuple[Alignment, ...] = ()
    result_descriptions: tuple[ResultDescription, ...] = ()
    tags: tuple[str, ...] = ()
    human_code: str | None = None
    field_of_study: str | None = None
    in_language: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        if not self.criteria_narrative and not self.criteria_id:
            raise ValueError("Achievement.criteria needs an id and/or a narrative")


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who earned it. At least one of ``did`` or an identifier is required.

    ``lti_user_id`` + ``lti_platform_id`` key our recipients (survive email changes); a hashed
    ``email`` sits next to them for conformance and wallets.
    """

    email: str | None = None
    lti_user_id: str | None = None
    lti_platform_id: str | None = None
    did: str | None = None

    def identities(self) -> list[tuple[IdentityType, str]]:
        out: list[tuple[IdentityType, str]] = []
        if self.email:
            out.append(("emailAddress", self.email.strip().lower()))
        if self.lti_user_id:
            out.append(("ltiUserId", self.lti_user_id))
        if self.lti_platform_id:
            out.append(("ltiPlatformId", self.lti_platform_id))
        return out


@dataclass(frozen=True, slots=True)
class Result:
    result_description: str | None = None  # id of a ResultDescription of the achievement
    value: str | None = None
    status: str | None = None  # "Completed", "Enrolled", ...
    achieved_level: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    id: str | None = None
    narrative: str | None = None
    name: str | None = None
    description: str | None = None
    genre: str | None = None
    audience: str | None = None


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """A ``BitstringStatusListEntry``; ``id`` is required by the OB schema."""

    id: str
    purpose: StatusPurpose
    index: int
    list_credential: str


@dataclass(frozen=True, slots=True)
class CredentialOptions:
    name: str | None = None  # defaults to the achievement name
    description: str | None = None
    image: Image | None = None
    awarded_date: datetime | None = None
    #: Off by default: ``1EdTechJsonSchemaValidator2019`` is defined by neither the VC 2.0 nor
    #: the OB 3.0.3 context, so JSON-LD safe mode (Digital Bazaar's verifier, and our signer)
    #: rejects it as a "relative @type reference". Turning it on makes signing fail.
    credential_schema: bool = False
    extra_types: tuple[str, ...] = field(default=())
    #: The OB 3.0 schema types ``credentialStatus`` as ONE object, so by default at most one
    #: status entry is accepted (revocation). ``True`` emits an array (valid VC 2.0, verifies
    #: with Digital Bazaar's verifier, but fails the 1EdTech JSON schema).
    status_array: bool = False


def new_salt() -> str:
    """A random per-credential salt (128 bits, hex)."""
    return secrets.token_hex(16)


def new_credential_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def identity_hash(identifier: str, salt: str) -> str:
    """``sha256$`` + hex(SHA-256(identifier UTF-8 || salt UTF-8)) (OB 3.0 IdentityHash)."""
    return "sha256$" + hashlib.sha256((identifier + salt).encode("utf-8")).hexdigest()


def _prune(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None and v != [] and v != ()}


def _image(image: Image | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return _prune({"id": image.id, "type": "Image", "caption": image.caption})


def issuer_profile_json(issuer: IssuerProfile) -> dict[str, Any]:
    return _prune(
        {
            "id": issuer.id,
            "type": ["Profile"],
            "name": issuer.name,
            "url": issuer.url,
            "email": issuer.email,
            "description": issuer.description,
            "image": _image(issuer.image),
        }
    )


def achievement_json(achievement: Achievement) -> dict[str, Any]:
    criteria = _prune({"id": achievement.criteria_id, "narrative": achievement.criteria_narrative})
    return _prune(
        {
            "id": achievement.id,
            "type": ["Achievement"],
            "achievementType": achievement.achievement_type,
            "name": achievement.name,
            "description": achievement.description,
            "criteria": criteria,
            "image": _image(achievement.image),
            "alignment": [
                _prune(
                    {
                        "type": ["Alignment"],
                        "targetName": a.target_name,
                        "targetUrl": a.target_url,
                        "targetType": a.target_type,
                        "targetFramework": a.target_framework,
                        "targetCode": a.target_code,
                        "targetDescription": a.target_description,
                    }
                )
                for a in achievement.alignments
            ],
            "resultDescription": [
                _prune(
                    {
                        "id": r.id,
                        "type": ["ResultDescription"],
                        "name": r.name,
                        "resultType": r.result_type,
                        "allowedValue": list(r.allowed_value),
                        "requiredValue": r.required_value,
                        "valueMin": r.value_min,
                        "valueMax": r.value_max,
                    }
                )
                for r in achievement.result_descriptions
            ],
            "tag": list(achievement.tags),
            "humanCode": achievement.human_code,
            "fieldOfStudy": achievement.field_of_study,
            "inLanguage": achievement.in_language,
            "version": achievement.version,
        }
    )


def build_achievement_credential(
    *,
    credential_id: str,
    issuer: IssuerProfile,
    achievement: Achievement,
    recipient: Recipient,
    salt: str,
    valid_from: datetime,
    valid_until: datetime | None = None,
    results: Sequence[Result] = (),
    evidence: Sequence[Evidence] = (),
    status: Sequence[StatusEntry] = (),
    options: CredentialOptions = CredentialOptions(),
) -> dict[str, Any]:
    """Build an unsigned ``OpenBadgeCredential`` (VC 2.0 + OB 3.0.3 contexts)."""
    identities = recipient.identities()
    if not identities and not recipient.did:
        raise ValueError("recipient needs a DID or at least one identifier")
    if valid_until is not None and valid_until <= valid_from:
        raise ValueError("validUntil must be after validFrom")
    if len(status) > 1 and not options.status_array:
        raise ValueError(
            "the OB 3.0 schema allows one credentialStatus object; set options.status_array "
            "to emit several (schema-invalid) entries"
        )
    known_results = {r.id for r in achievement.result_descriptions}
    for result in results:
        if result.result_description and result.result_description not in known_results:
            raise ValueError(
                f"result refers to unknown resultDescription {result.result_description}"
            )
    subject = _prune(
        {
            "id": recipient.did,
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": identity_hash(value, salt),
                    "identityType": kind,
                    "hashed": True,
                    "salt": salt,
                }
                for kind, value in identities
            ],
            "achievement": achievement_json(achievement),
            "result": [
                _prune(
                    {
                        "type": ["Result"],
                        "resultDescription": r.result_description,
                        "value": r.value,
                        "status": r.status,
                        "achievedLevel": r.achieved_level,
                    }
                )
                for r in results
            ],
        }
    )
    awarded = options.awarded_date
    credential = _prune(
        {
            "@context": list(CONTEXT),
            "id": credential_id,
            "type": ["VerifiableCredential", "OpenBadgeCredential", *options.extra_types],
            "name": options.name or achievement.name,
            "description": options.description,
            "image": _image(options.image),
            "issuer": issuer_profile_json(issuer),
            "validFrom": rfc3339(valid_from),
            "validUntil": rfc3339(valid_until) if valid_until else None,
            "awardedDate": rfc3339(awarded) if awarded is not None else None,
            "credentialSubject": subject,
            "evidence": [
                _prune(
                    {
                        "id": e.id,
                        "type": ["Evidence"],
                        "narrative": e.narrative,
                        "name": e.name,
                        "description": e.description,
                        "genre": e.genre,
                        "audience": e.audience,
                    }
                )
                for e in evidence
            ],
            "credentialStatus": [
                {
                    "id": s.id,
                    "type": "BitstringStatusListEntry",
                    "statusPurpose": s.purpose,
                    "statusListIndex": str(s.index),
                    "statusListCredential": s.list_credential,
                }
                for s in status
            ],
            "credentialSchema": (
                [{"id": ACHIEVEMENT_CREDENTIAL_SCHEMA, "type": SCHEMA_VALIDATOR_TYPE}]
                if options.credential_schema
                else None
            ),
        }
    )
    if len(status) == 1 and not options.status_array:
        credential["credentialStatus"] = credential["credentialStatus"][0]
    return credential
