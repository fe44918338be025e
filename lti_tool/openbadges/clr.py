"""Pure builder for CLR 2.0 ``ClrCredential`` documents (unsigned) bundling OB 3.0 credentials.

A ``ClrCredential`` is a verifiable credential whose ``ClrSubject`` carries the learner's
identifiers, the achievements, the signed ``verifiableCredential`` entries (each keeps its own
proof) and ``association`` entries between the achievements (``isChildOf`` / ``isParentOf``
for a pathway and its components).

The CLR 2.0 JSON-LD context is NOT bundled with Microcred: no copy was available to us (see
``shared/schemas/ob3/README.md``), and a hand-written one would be an invented vocabulary that
other verifiers do not share. :func:`clr_document_loader` therefore takes the official context
document from the operator (``MICROCRED_CLR_CONTEXT_FILE``); without it the offline loader
refuses the CLR context URL and nothing can be signed. No I/O, no clock here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from .contexts import OB_V3P0_303, VC_V2, DocumentLoader, make_document_loader
from .credential import IssuerProfile, Recipient, identity_hash, issuer_profile_json
from .dataintegrity import rfc3339

#: The CLR 2.0 context URL a ClrCredential names (second, after VC 2.0).
CLR_V2P0: Final = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"

AssociationType = Literal[
    "exactMatchOf",
    "isChildOf",
    "isParentOf",
    "isPartOf",
    "isPeerOf",
    "isRelatedTo",
    "precedes",
    "replacedBy",
]
ASSOCIATION_TYPES: Final = (
    "exactMatchOf",
    "isChildOf",
    "isParentOf",
    "isPartOf",
    "isPeerOf",
    "isRelatedTo",
    "precedes",
    "replacedBy",
)


class ClrContextError(ValueError):
    """The CLR context document given by the operator is not usable."""


@dataclass(frozen=True, slots=True)
class Association:
    association_type: AssociationType
    source_id: str  # achievement id
    target_id: str  # achievement id

    def __post_init__(self) -> None:
        if self.association_type not in ASSOCIATION_TYPES:
            raise ValueError(f"unknown associationType {self.association_type!r}")
        if self.source_id == self.target_id:
            raise ValueError("an association links two different achievements")


@dataclass(frozen=True, slots=True)
class Component:
    """One part of a stack: its signed credential, and the achievement it belongs under."""

    credential: Mapping[str, Any]  # a signed OB 3.0 credential (kept byte for byte)
    parent_achievement_id: str


def achievement_of(credential: Mapping[str, Any]) -> Mapping[str, Any]:
    subject = credential.get("credentialSubject")
    if not isinstance(subject, Mapping) or not isinstance(subject.get("achievement"), Mapping):
        raise ValueError(f"credential {credential.get('id')!r} has no achievement")
    achievement: Mapping[str, Any] = subject["achievement"]
    if not isinstance(achievement.get("id"), str):
        raise ValueError(f"credential {credential.get('id')!r}: achievement without id")
    return achievement


def stack_associations(components: Sequence[Component]) -> tuple[Association, ...]:
    """``child isChildOf parent`` and ``parent isParentOf child`` for every component."""
    out: list[Association] = []
    for component in components:
        child = str(achievement_of(component.credential)["id"])
        parent = component.parent_achievement_id
        out.append(Association("isChildOf", child, parent))
        out.append(Association("isParentOf", parent, child))
    return tuple(dict.fromkeys(out))


def build_clr_credential(
    *,
    credential_id: str,
    issuer: IssuerProfile,
    name: str,
    recipient: Recipient,
    salt: str,
    valid_from: datetime,
    credentials: Sequence[Mapping[str, Any]],
    associations: Sequence[Association],
    description: str | None = None,
    context_url: str = CLR_V2P0,
) -> dict[str, Any]:
    """An unsigned ``ClrCredential`` (VC 2.0, CLR 2.0, OB 3.0.3 contexts)."""
    if not credentials:
        raise ValueError("a CLR bundles at least one credential")
    identities = recipient.identities()
    if not identities and not recipient.did:
        raise ValueError("recipient needs a DID or at least one identifier")
    achievements: dict[str, Mapping[str, Any]] = {}
    for credential in credentials:
        achievement = achievement_of(credential)
        achievements.setdefault(str(achievement["id"]), achievement)
    for association in associations:
        for end in (association.source_id, association.target_id):
            if end not in achievements:
                raise ValueError(f"association refers to {end!r}, not in the bundled credentials")
    subject: dict[str, Any] = {"type": ["ClrSubject"]}
    if recipient.did:
        subject["id"] = recipient.did
    if identities:
        subject["identifier"] = [
            {
                "type": "IdentityObject",
                "identityHash": identity_hash(value, salt),
                "identityType": kind,
                "hashed": True,
                "salt": salt,
            }
            for kind, value in identities
        ]
    subject["achievement"] = [json.loads(json.dumps(a)) for a in achievements.values()]
    subject["verifiableCredential"] = [json.loads(json.dumps(c)) for c in credentials]
    if associations:
        subject["association"] = [
            {
                "type": "Association",
                "associationType": a.association_type,
                "sourceId": a.source_id,
                "targetId": a.target_id,
            }
            for a in associations
        ]
    out: dict[str, Any] = {
        "@context": [VC_V2, context_url, OB_V3P0_303],
        "id": credential_id,
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": name,
    }
    if description:
        out["description"] = description
    out.update(
        {
            "issuer": issuer_profile_json(issuer),
            "validFrom": rfc3339(valid_from),
            "credentialSubject": subject,
        }
    )
    return out


def clr_document_loader(context_document: Mapping[str, Any], url: str = CLR_V2P0) -> DocumentLoader:
    """The offline loader plus the operator's copy of the CLR 2.0 context at ``url``."""
    if not isinstance(context_document.get("@context"), Mapping):
        raise ClrContextError("the CLR context document has no @context object")
    return make_document_loader({url: context_document})
