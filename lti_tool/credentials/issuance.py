"""Every award is a signed, verifiable, revocable Open Badges 3.0 credential.

:class:`CredentialIssuer` is an award listener (see ``awards.award_listeners``), installed by
``create_app`` and by the CLI, never at import time. Inside the award's transaction it:

* on ``award.created``: builds the ``OpenBadgeCredential`` (hashed email + ``ltiUserId`` +
  ``ltiPlatformId`` identifiers, alignments, result, validFrom/validUntil, one
  ``BitstringStatusListEntry`` for revocation), signs it with ``eddsa-rdfc-2022`` (proof array,
  fast canonicalization path) and as an EdDSA VC-JWT, and stores both;
* on revoke / suspend / reinstate: flips the credential's bit in the revocation or suspension
  status list and re-signs that status list credential (cached per list version).

Suspension: the OB 3.0 JSON schema allows ONE ``credentialStatus`` object, so the credential
carries only the revocation entry. Every credential also holds a suspension index whose list is
published at ``/status/suspension/<n>``; our verification page and ``POST /verify`` check it,
other verifiers see revocation only.

Framework-free: no Flask; nothing here commits.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lti_tool.models import (
    Award,
    IssuedCredential,
    IssuerProfile,
    StatusList,
    StatusListAllocation,
    utcnow,
)
from lti_tool.models.awards import STATUS_EXPIRED, STATUS_REVOKED, STATUS_SUSPENDED
from lti_tool.models.issued import PURPOSE_REVOCATION, PURPOSE_SUSPENSION
from lti_tool.openbadges import credential as C
from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges import statuslist as SL
from lti_tool.openbadges import vcjwt
from lti_tool.openbadges.keys import (
    KeyFormatError,
    public_key_from_did_document,
    resolve_did_key,
)
from lti_tool.openbadges.schema import validate_achievement_credential
from lti_tool.secretbox import SecretBox

from . import issuerkeys
from .awards import (
    AWARD_CREATED,
    AWARD_REINSTATED,
    AWARD_REVOKED,
    AWARD_SUSPENDED,
    award_listeners,
)

#: Start a new list when this share of a list is allocated (random probing stays cheap).
FILL_LIMIT: Final = 0.75
CLOCK_SKEW: Final = timedelta(minutes=5)


@dataclass(frozen=True)
class IssuanceConfig:
    public_url: str
    box: SecretBox
    tool_name: str = "Microcred"

    def url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path

    @property
    def identity(self) -> str:
        return issuerkeys.issuer_identity(self.public_url)

    def credential_url(self, public_id: str) -> str:
        return self.url(f"/credentials/{public_id}")

    def status_list_url(self, purpose: str, number: int) -> str:
        return self.url(f"/status/{purpose}/{number}")

    def achievement_url(self, achievement_id: int) -> str:
        return self.url(f"/achievements/{achievement_id}")

    def badge_image_url(self, achievement_id: int) -> str:
        return self.url(f"/badge-images/{achievement_id}")


# -- status lists -------------------------------------------------------------------------


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


class StatusLists:
    def __init__(self, config: IssuanceConfig, keys: issuerkeys.KeyCache) -> None:
        self._config = config
        self._keys = keys
        self._rng = random.SystemRandom()

    def _sign(self, session: Session, row: StatusList) -> dict[str, Any]:
        key_row = issuerkeys.current_key_row(session, self._config.box, row.issuer)
        key = self._keys.signing_key(key_row, self._config.box)
        unsigned = SL.status_list_credential(
            list_id=self._config.status_list_url(row.purpose, row.number),
            issuer_id=key.controller,
            purpose=row.purpose,  # type: ignore[arg-type]
            bitstring=SL.Bitstring.from_bytes(row.bits),
            valid_from=row.updated_at,
        )
        return DI.sign(unsigned, key, created=row.updated_at, proof_as_array=False)

    def _open_list(self, session: Session, identity: str, purpose: str) -> StatusList:
        """The list new indexes go to, locked; created (race-safe) when there is none."""
        while True:
            row = session.scalars(
                select(StatusList)
                .where(
                    StatusList.issuer == identity,
                    StatusList.purpose == purpose,
                    StatusList.full.is_(False),
                )
                .order_by(StatusList.number)
                .limit(1)
                .with_for_update()
            ).one_or_none()
            if row is not None:
                if row.allocated < row.size * FILL_LIMIT:
                    return row
                row.full = True
                session.flush()
                continue
            number = (
                session.scalar(
                    select(func.max(StatusList.number)).where(
                        StatusList.issuer == identity, StatusList.purpose == purpose
                    )
                )
                or 0
            ) + 1
            now = utcnow().replace(microsecond=0)
            session.execute(
                _insert(session)(StatusList)
                .values(
                    issuer=identity,
                    purpose=purpose,
                    number=number,
                    size=SL.MIN_ENTRIES,
                    bits=bytes(SL.MIN_ENTRIES // 8),
                    allocated=0,
                    full=False,
                    version=1,
                    signed=None,
                    signed_version=0,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["issuer", "purpose", "number"])
            )

    def allocate(self, session: Session, identity: str, purpose: str) -> tuple[StatusList, int]:
        """A random, never used index in the open list of ``purpose``."""
        row = self._open_list(session, identity, purpose)
        while True:
            candidate = self._rng.randrange(row.size)
            taken = session.get(StatusListAllocation, (row.id, candidate))
            if taken is None:
                break
        session.add(StatusListAllocation(status_list_id=row.id, index=candidate))
        row.allocated += 1
        session.flush()
        return row, candidate

    def set_bit(self, session: Session, list_id: int, index: int, value: bool) -> StatusList:
        """Flip one bit (if it changes) and re-sign the list, in the caller's transaction."""
        row = session.get_one(StatusList, list_id, with_for_update=True)
        bits = SL.Bitstring.from_bytes(row.bits)
        if bits.get(index) == value and row.signed is not None:
            return row
        bits.set(index, value)
        row.bits = bits.to_bytes()
        row.version += 1
        row.updated_at = utcnow().replace(microsecond=0)
        row.signed = self._sign(session, row)
        row.signed_version = row.version
        session.flush()
        return row

    def signed_credential(self, session: Session, row: StatusList) -> dict[str, Any]:
        """The signed status list credential of ``row``'s version (signed now if not cached;
        the caller may keep it or not)."""
        if row.signed is not None and row.signed_version == row.version:
            return row.signed
        return self._sign(session, row)


# -- credentials ------------------------------------------------------------------------


def _as_str(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _result_parts(
    award: Award, achievement_url: str
) -> tuple[tuple[C.ResultDescription, ...], tuple[C.Result, ...]]:
    description = award.achievement.result_description
    if not description:
        return (), ()
    kind = str(description.get("result_type"))
    levels = tuple(str(level["name"]) for level in description.get("levels") or [])
    rd = C.ResultDescription(
        id=f"{achievement_url}#result",
        name=str(description.get("name") or "Result"),
        result_type=kind,
        allowed_value=levels,
        value_min=_as_str(description.get("value_min", 0)) if kind == "Percent" else None,
        value_max=_as_str(description.get("value_max", 100)) if kind == "Percent" else None,
    )
    result = award.result
    if not result:
        return (rd,), ()
    value = result.get("value") if kind == "Percent" else result.get("level")
    if value is None:
        return (rd,), ()
    return (rd,), (C.Result(result_description=rd.id, value=_as_str(value)),)


def build_credential(
    session: Session,
    award: Award,
    config: IssuanceConfig,
    *,
    credential_id: str,
    issuer_did: str,
    status: C.StatusEntry,
    salt: str,
) -> dict[str, Any]:
    """The unsigned ``OpenBadgeCredential`` of ``award``."""
    achievement = award.achievement
    learner = award.learner
    platform = learner.platform
    profile = session.get(IssuerProfile, award.platform_id)
    issuer = C.IssuerProfile(
        id=issuer_did,
        name=(profile.name if profile else "") or platform.name or config.tool_name,
        url=profile.url if profile else None,
        email=profile.email if profile else None,
        description=(profile.description or None) if profile else None,
    )
    achievement_url = config.achievement_url(achievement.id)
    result_descriptions, results = _result_parts(award, achievement_url)
    image = (
        C.Image(config.badge_image_url(achievement.id), caption=achievement.name)
        if achievement.image is not None
        else None
    )
    ob_achievement = C.Achievement(
        id=achievement_url,
        name=achievement.name,
        description=achievement.description,
        criteria_narrative=achievement.criteria_narrative or None,
        criteria_id=achievement.criteria_url or None,
        achievement_type=achievement.achievement_type or None,
        image=image,
        alignments=tuple(
            C.Alignment(
                target_name=a.target_name,
                target_url=a.target_url,
                target_type=a.target_type,
                target_framework=a.target_framework,
                target_code=a.target_code,
                target_description=a.target_description,
            )
            for a in achievement.alignments
        ),
        result_descriptions=result_descriptions,
        tags=tuple(achievement.tags or ()),
    )
    evidence = (
        (C.Evidence(id=award.evidence_url, narrative=award.evidence_text),)
        if award.evidence_url or award.evidence_text
        else ()
    )
    return C.build_achievement_credential(
        credential_id=credential_id,
        issuer=issuer,
        achievement=ob_achievement,
        recipient=C.Recipient(
            email=learner.email or None,
            lti_user_id=learner.sub,
            lti_platform_id=platform.issuer,
        ),
        salt=salt,
        valid_from=award.issued_at,
        valid_until=award.expires_at,
        results=results,
        evidence=evidence,
        status=(status,),
        options=C.CredentialOptions(awarded_date=award.issued_at, image=image),
    )


class CredentialIssuer:
    """The award listener. ``config`` may be a callable (resolved on first use: the CLI)."""

    def __init__(self, config: IssuanceConfig | Callable[[], IssuanceConfig]) -> None:
        self._config_source = config
        self._config: IssuanceConfig | None = config if isinstance(config, IssuanceConfig) else None
        self.keys = issuerkeys.KeyCache()
        self._lists: StatusLists | None = None

    @property
    def config(self) -> IssuanceConfig:
        if self._config is None:
            assert callable(self._config_source)
            self._config = self._config_source()
        return self._config

    @property
    def status_lists(self) -> StatusLists:
        if self._lists is None:
            self._lists = StatusLists(self.config, self.keys)
        return self._lists

    def __call__(self, session: Session, award: Award, event_type: str) -> None:
        if event_type == AWARD_CREATED:
            self.issue(session, award)
        elif event_type == AWARD_REVOKED:
            self._flip(session, award, PURPOSE_REVOCATION, True)
        elif event_type == AWARD_SUSPENDED:
            self._flip(session, award, PURPOSE_SUSPENSION, True)
        elif event_type == AWARD_REINSTATED:
            self._flip(session, award, PURPOSE_SUSPENSION, False)
        # award.expired: validUntil is in the signed credential already.

    def issue(self, session: Session, award: Award) -> IssuedCredential:
        """Sign and store the credential of ``award`` (returns the existing one if any)."""
        existing = credential_of_award(session, award.id)
        if existing is not None:
            return existing
        config = self.config
        identity = config.identity
        key_row = issuerkeys.current_key_row(session, config.box, identity)
        key = self.keys.signing_key(key_row, config.box)
        revocation, revocation_index = self.status_lists.allocate(
            session, identity, PURPOSE_REVOCATION
        )
        suspension, suspension_index = self.status_lists.allocate(
            session, identity, PURPOSE_SUSPENSION
        )
        if revocation.signed is None:  # a new list: publish it signed (all bits clear)
            self.status_lists.set_bit(session, revocation.id, revocation_index, False)
        if suspension.signed is None:
            self.status_lists.set_bit(session, suspension.id, suspension_index, False)
        public_id = uuid.uuid4().hex
        list_url = config.status_list_url(PURPOSE_REVOCATION, revocation.number)
        unsigned = build_credential(
            session,
            award,
            config,
            credential_id=config.credential_url(public_id),
            issuer_did=key.controller,
            status=C.StatusEntry(
                id=f"{list_url}#{revocation_index}",
                purpose="revocation",
                index=revocation_index,
                list_credential=list_url,
            ),
            salt=C.new_salt(),
        )
        signed = DI.sign(unsigned, key)
        token = vcjwt.sign(signed, key.private_key, kid=key.verification_method)
        row = IssuedCredential(
            public_id=public_id,
            award_id=award.id,
            platform_id=award.platform_id,
            credential=signed,
            vc_jwt=token,
            issued_at=award.issued_at,
            key_id=key_row.id,
            learner_name=(award.learner.display_name or "")[:255],
            revocation_list_id=revocation.id,
            revocation_index=revocation_index,
            suspension_list_id=suspension.id,
            suspension_index=suspension_index,
        )
        session.add(row)
        session.flush()
        return row

    def _flip(self, session: Session, award: Award, purpose: str, value: bool) -> None:
        issued = credential_of_award(session, award.id)
        if issued is None:  # awarded before credentials were issued: nothing to flip
            return
        if purpose == PURPOSE_REVOCATION:
            self.status_lists.set_bit(
                session, issued.revocation_list_id, issued.revocation_index, value
            )
        else:
            self.status_lists.set_bit(
                session, issued.suspension_list_id, issued.suspension_index, value
            )

    # -- reading ----------------------------------------------------------------------

    def did_document(self, session: Session) -> dict[str, Any] | None:
        return issuerkeys.did_document(session, self.config.public_url)

    def status_list(self, session: Session, purpose: str, number: int) -> StatusList | None:
        return session.scalars(
            select(StatusList).where(
                StatusList.issuer == self.config.identity,
                StatusList.purpose == purpose,
                StatusList.number == number,
            )
        ).one_or_none()


def credential_of_award(session: Session, award_id: int) -> IssuedCredential | None:
    return session.scalars(
        select(IssuedCredential).where(IssuedCredential.award_id == award_id)
    ).one_or_none()


def credential_by_public_id(session: Session, public_id: str) -> IssuedCredential | None:
    if not (len(public_id) == 32 and all(c in "0123456789abcdef" for c in public_id)):
        return None
    return session.scalars(
        select(IssuedCredential).where(IssuedCredential.public_id == public_id)
    ).one_or_none()


# -- live status ------------------------------------------------------------------------

VALID = "valid"
EXPIRED = "expired"
REVOKED = "revoked"
SUSPENDED = "suspended"
NOT_YET_VALID = "not yet valid"


def live_status(issued: IssuedCredential, now: datetime | None = None) -> str:
    """valid / expired / revoked / suspended, from the status list bits and the award."""
    now = now or utcnow()
    if SL.Bitstring.from_bytes(issued.revocation_list.bits).get(issued.revocation_index):
        return REVOKED
    award = issued.award
    if award.status == STATUS_REVOKED:
        return REVOKED
    if SL.Bitstring.from_bytes(issued.suspension_list.bits).get(issued.suspension_index):
        return SUSPENDED
    if award.status == STATUS_SUSPENDED:
        return SUSPENDED
    if award.status == STATUS_EXPIRED or (award.expires_at is not None and award.expires_at <= now):
        return EXPIRED
    return VALID


# -- verification -----------------------------------------------------------------------


@dataclass
class Check:
    check: str
    passed: bool | None  # None: not applicable / not checked
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        result = "skipped" if self.passed is None else "passed" if self.passed else "failed"
        return {"check": self.check, "result": result, "detail": self.detail}


@dataclass
class VerificationReport:
    checks: list[Check] = field(default_factory=list)
    status: str = VALID

    @property
    def verified(self) -> bool:
        return all(c.passed is not False for c in self.checks) and self.status == VALID

    def as_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "status": self.status,
            "checks": [c.as_json() for c in self.checks],
        }


class Verifier:
    """Verify an OB 3.0 credential: proof, schema, dates, status.

    DIDs resolved: did:key (locally) and our own did:web (from our database); other did:web
    hosts are refused (no network fetches on behalf of anonymous callers). Status is checked
    for entries pointing at our own status lists; others are reported as not checked.
    """

    def __init__(self, issuer: CredentialIssuer) -> None:
        self._issuer = issuer

    def _resolver(self, session: Session) -> Callable[[str], Mapping[str, Any]]:
        def resolve(did: str) -> Mapping[str, Any]:
            document = self._issuer.did_document(session)
            if document is None or document["id"] != did:
                raise KeyFormatError(f"cannot resolve {did}: only did:key and our own did:web")
            return document

        return resolve

    def verify(
        self, session: Session, document: Mapping[str, Any], now: datetime | None = None
    ) -> VerificationReport:
        now = now or datetime.now(UTC)
        report = VerificationReport()
        proof = DI.verify(document, resolver=self._resolver(session))
        report.checks.append(
            Check("proof", proof.verified, "; ".join(proof.errors) or "eddsa-rdfc-2022 verified")
        )
        schema = validate_achievement_credential(document)
        report.checks.append(
            Check("schema", schema.valid, "; ".join(schema.errors[:10]) or "OB 3.0 schema")
        )
        report.checks.append(self._dates(document, now, report))
        report.checks.append(self._status(session, document, report))
        return report

    @staticmethod
    def _dates(document: Mapping[str, Any], now: datetime, report: VerificationReport) -> Check:
        try:
            valid_from = DI.parse_rfc3339(document.get("validFrom"))  # type: ignore[arg-type]
            until_raw = document.get("validUntil")
            valid_until = DI.parse_rfc3339(until_raw) if until_raw is not None else None
        except (TypeError, ValueError) as exc:
            return Check("dates", False, str(exc))
        if valid_from > now + CLOCK_SKEW:
            report.status = NOT_YET_VALID
            return Check("dates", False, "validFrom is in the future")
        if valid_until is not None and valid_until <= now:
            report.status = EXPIRED
            return Check("dates", False, f"expired at {until_raw}")
        return Check("dates", True, "within validFrom/validUntil")

    def _status(
        self, session: Session, document: Mapping[str, Any], report: VerificationReport
    ) -> Check:
        entry = document.get("credentialStatus")
        if entry is None:
            return Check("status", None, "no credentialStatus")
        entries = entry if isinstance(entry, list) else [entry]
        prefix = self._issuer.config.url("/status/")
        details: list[str] = []
        ok: bool | None = None
        for item in entries:
            if not isinstance(item, Mapping):
                return Check("status", False, "credentialStatus is not an object")
            url = item.get("statusListCredential")
            if not isinstance(url, str) or not url.startswith(prefix):
                details.append(f"{url!r} not checked (not one of our status lists)")
                continue
            purpose, _, number = url[len(prefix) :].partition("/")
            row = (
                self._issuer.status_list(session, purpose, int(number))
                if number.isdigit()
                else None
            )
            if row is None:
                return Check("status", False, f"unknown status list {url}")
            signed = self._issuer.status_lists.signed_credential(session, row)
            try:
                is_set = SL.entry_status(dict(item), signed)
            except (SL.StatusListError, IndexError) as exc:
                return Check("status", False, str(exc))
            if is_set:
                report.status = REVOKED if purpose == PURPOSE_REVOCATION else SUSPENDED
                return Check("status", False, f"{purpose} bit set")
            ok = True
            details.append(f"{purpose}: not set")
        own = self._own_credential(session, document)
        if own is not None:
            suspended = SL.Bitstring.from_bytes(own.suspension_list.bits).get(own.suspension_index)
            if suspended:
                report.status = SUSPENDED
                return Check("status", False, "suspension bit set")
            details.append("suspension: not set")
        return Check("status", ok, "; ".join(details))

    def _own_credential(
        self, session: Session, document: Mapping[str, Any]
    ) -> IssuedCredential | None:
        credential_id = document.get("id")
        prefix = self._issuer.config.url("/credentials/")
        if not isinstance(credential_id, str) or not credential_id.startswith(prefix):
            return None
        return credential_by_public_id(session, credential_id[len(prefix) :])

    def verify_jwt(self, session: Session, token: str) -> vcjwt.DecodedVcJwt:
        """Verify a VC-JWT signed with one of our keys or a did:key (raises VcJwtError)."""

        def resolve_key(kid: str, issuer: str) -> Any:
            if kid.startswith("did:key:"):
                did, key = resolve_did_key(kid)
                if did != issuer:
                    raise LookupError("kid is not the issuer's key")
                return key
            document = self._issuer.did_document(session)
            if document is None or document["id"] != issuer:
                raise LookupError("not our issuer")
            try:
                return public_key_from_did_document(document, kid)
            except KeyFormatError as exc:
                raise LookupError(str(exc)) from exc

        return vcjwt.verify(token, resolve_key)


# -- installation -----------------------------------------------------------------------


def install(issuer: CredentialIssuer) -> CredentialIssuer:
    """Register ``issuer`` as the award listener, replacing an earlier one (one per process:
    the last app or CLI run that installs wins)."""
    award_listeners[:] = [x for x in award_listeners if not isinstance(x, CredentialIssuer)]
    award_listeners.append(issuer)
    return issuer


def installed() -> CredentialIssuer | None:
    for listener in award_listeners:
        if isinstance(listener, CredentialIssuer):
            return listener
    return None


__all__ = [
    "CredentialIssuer",
    "IssuanceConfig",
    "Verifier",
    "install",
    "live_status",
]
