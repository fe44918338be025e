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

import math
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from lti_tool.models import (
    Achievement,
    Award,
    IssuedCredential,
    IssuerProfile,
    StatusList,
    StatusListAllocation,
    User,
    utcnow,
)
from lti_tool.models.awards import (
    STATUS_ACTIVE,
    STATUS_EXPIRED,
    STATUS_REVOKED,
    STATUS_SUSPENDED,
)
from lti_tool.models.issued import PURPOSE_REVOCATION, PURPOSE_SUSPENSION
from lti_tool.openbadges import credential as C
from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges import statuslist as SL
from lti_tool.openbadges import vcjwt
from lti_tool.openbadges.did_web import RemoteFetchError, did_web_netloc
from lti_tool.openbadges.keys import (
    DID_HOST_NOT_ALLOWED,
    DID_RESOLUTION_FAILED,
    UNKNOWN_DID_METHOD,
    DidResolutionError,
    KeyFormatError,
    public_key_from_did_document,
    resolve_did_key,
)
from lti_tool.openbadges.remote import RemoteMaterial
from lti_tool.openbadges.schema import validate_achievement_credential
from lti_tool.secretbox import SecretBox

from . import issuerkeys
from .achievements import achievement_listeners
from .awards import (
    AWARD_CREATED,
    AWARD_REINSTATED,
    AWARD_REVOKED,
    AWARD_SUSPENDED,
    award_listeners,
)

#: Achievement fields a credential shows: changing one re-issues the credentials.
DISPLAYED_FIELDS: Final = frozenset(
    {
        "name",
        "description",
        "criteria_narrative",
        "criteria_url",
        "achievement_type",
        "tags",
        "alignments",
        "image",
        "result_description",
    }
)
#: Credentials re-issued per query when an achievement changes.
REISSUE_BATCH: Final = 500
#: The award event of a re-issued credential (the sync outbox sends ``credential.updated``).
AWARD_UPDATED: Final = "award.updated"

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
        return self.allocate_many(session, identity, purpose, 1)[0]

    def allocate_many(
        self, session: Session, identity: str, purpose: str, count: int
    ) -> list[tuple[StatusList, int]]:
        """``count`` random, never used indexes in the open list(s) of ``purpose``: what
        ``count`` calls of ``allocate`` give, with a few statements per list instead."""
        out: list[tuple[StatusList, int]] = []
        while len(out) < count:
            row = self._open_list(session, identity, purpose)
            room = max(1, math.ceil(row.size * FILL_LIMIT) - row.allocated)
            picked = self._free_indexes(session, row, min(room, count - len(out)))
            session.execute(
                insert(StatusListAllocation),
                [{"status_list_id": row.id, "index": index} for index in picked],
            )
            row.allocated += len(picked)
            session.flush()
            out.extend((row, index) for index in picked)
        return out

    def _free_indexes(self, session: Session, row: StatusList, count: int) -> list[int]:
        """``count`` distinct random indexes of ``row`` that no allocation holds yet."""
        picked: set[int] = set()
        while len(picked) < count:
            candidates: set[int] = set()
            while len(candidates) < count - len(picked):
                candidate = self._rng.randrange(row.size)
                if candidate not in picked:
                    candidates.add(candidate)
            ordered = sorted(candidates)
            for start in range(0, len(ordered), 500):
                chunk = ordered[start : start + 500]
                candidates.difference_update(
                    session.scalars(
                        select(StatusListAllocation.index).where(
                            StatusListAllocation.status_list_id == row.id,
                            StatusListAllocation.index.in_(chunk),
                        )
                    )
                )
            picked.update(candidates)
        return list(picked)

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
    return _credential_document(
        award,
        config,
        session.get(IssuerProfile, award.platform_id),
        credential_id=credential_id,
        issuer_did=issuer_did,
        status=status,
        salt=salt,
    )


def _credential_document(
    award: Award,
    config: IssuanceConfig,
    profile: IssuerProfile | None,
    *,
    credential_id: str,
    issuer_did: str,
    status: C.StatusEntry,
    salt: str,
) -> dict[str, Any]:
    achievement = award.achievement
    learner = award.learner
    platform = learner.platform
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

    def many(self, session: Session, awards: Sequence[Award], event_type: str) -> None:
        """The listener for many awards of one event (``awards.award_many``)."""
        if event_type == AWARD_CREATED:
            self.issue_many(session, awards)
        else:
            for award in awards:
                self(session, award, event_type)

    def issue(self, session: Session, award: Award) -> IssuedCredential:
        """Sign and store the credential of ``award`` (returns the existing one if any)."""
        return self.issue_many(session, [award])[0]

    def issue_many(self, session: Session, awards: Sequence[Award]) -> list[IssuedCredential]:
        """``issue`` for each award, in order: the signing key, the status list indexes and
        the issuer profiles fetched once, the new rows inserted together."""
        existing: dict[int, IssuedCredential] = {}
        ids = [award.id for award in awards]
        for start in range(0, len(ids), 500):
            existing.update(
                (row.award_id, row)
                for row in session.scalars(
                    select(IssuedCredential).where(
                        IssuedCredential.award_id.in_(ids[start : start + 500])
                    )
                )
            )
        todo = list({a.id: a for a in awards if a.id not in existing}.values())
        if todo:
            config = self.config
            identity = config.identity
            key_row = issuerkeys.current_key_row(session, config.box, identity)
            key = self.keys.signing_key(key_row, config.box)
            lists = self.status_lists
            revocations = lists.allocate_many(session, identity, PURPOSE_REVOCATION, len(todo))
            suspensions = lists.allocate_many(session, identity, PURPOSE_SUSPENSION, len(todo))
            for row, index in {r.id: (r, i) for r, i in revocations + suspensions}.values():
                if row.signed is None:  # a new list: publish it signed (all bits clear)
                    lists.set_bit(session, row.id, index, False)
            profiles: dict[int, IssuerProfile | None] = {}
            rows: list[IssuedCredential] = []
            for award, (revocation, revocation_index), (suspension, suspension_index) in zip(
                todo, revocations, suspensions, strict=True
            ):
                if award.platform_id not in profiles:
                    profiles[award.platform_id] = session.get(IssuerProfile, award.platform_id)
                public_id = uuid.uuid4().hex
                list_url = config.status_list_url(PURPOSE_REVOCATION, revocation.number)
                unsigned = _credential_document(
                    award,
                    config,
                    profiles[award.platform_id],
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
                rows.append(
                    IssuedCredential(
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
                )
            session.add_all(rows)
            session.flush()
            existing.update((row.award_id, row) for row in rows)
        return [existing[award.id] for award in awards]

    # -- re-issue ---------------------------------------------------------------------

    def achievement_changed(
        self, session: Session, achievement: Achievement, changed: Sequence[str]
    ) -> None:
        """The achievement listener: when a field the credential shows changed, re-issue the
        credentials of its active and suspended awards (revoked and expired ones keep the
        credential they had)."""
        if set(changed) & DISPLAYED_FIELDS:
            self.reissue_achievement(session, achievement)

    def reissue_achievement(self, session: Session, achievement: Achievement) -> int:
        """Re-issue the credentials of ``achievement``'s active and suspended awards, in
        batches; returns how many."""
        total = 0
        after_id = 0
        while True:
            batch = session.scalars(
                select(IssuedCredential)
                .join(Award, Award.id == IssuedCredential.award_id)
                .where(
                    Award.achievement_id == achievement.id,
                    Award.status.in_((STATUS_ACTIVE, STATUS_SUSPENDED)),
                    IssuedCredential.id > after_id,
                )
                .order_by(IssuedCredential.id)
                .limit(REISSUE_BATCH)
                .options(selectinload(IssuedCredential.award).selectinload(Award.learner))
            ).all()
            if not batch:
                return total
            self.reissue_many(session, batch)
            total += len(batch)
            after_id = batch[-1].id

    def reissue_many(self, session: Session, rows: Sequence[IssuedCredential]) -> None:
        """Sign each credential again from its award as it is now: same id, URL and status
        entries, current key; the award's version grows and the award listeners get
        ``award.updated`` (the sync outbox sends ``credential.updated``)."""
        config = self.config
        key_row = issuerkeys.current_key_row(session, config.box, config.identity)
        key = self.keys.signing_key(key_row, config.box)
        profiles: dict[int, IssuerProfile | None] = {}
        for row in rows:
            award = row.award
            if award.platform_id not in profiles:
                profiles[award.platform_id] = session.get(IssuerProfile, award.platform_id)
            entry = row.credential.get("credentialStatus") or {}
            list_url = str(entry.get("statusListCredential") or "")
            unsigned = _credential_document(
                award,
                config,
                profiles[award.platform_id],
                credential_id=config.credential_url(row.public_id),
                issuer_did=key.controller,
                status=C.StatusEntry(
                    id=str(entry.get("id") or f"{list_url}#{row.revocation_index}"),
                    purpose="revocation",
                    index=row.revocation_index,
                    list_credential=list_url,
                ),
                salt=C.new_salt(),
            )
            signed = DI.sign(unsigned, key)
            row.credential = signed
            row.vc_jwt = vcjwt.sign(signed, key.private_key, kid=key.verification_method)
            row.key_id = key_row.id
            award.updated_at = utcnow()  # a new version of the award: receivers order by it
        session.flush()
        for row in rows:
            for listener in list(award_listeners):
                listener(session, row.award, AWARD_UPDATED)

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


# -- backfill ---------------------------------------------------------------------------


def awards_without_credential(session: Session, *, limit: int, after_id: int = 0) -> list[Award]:
    """Active awards (id > ``after_id``, oldest first) that have no ``IssuedCredential``:
    made before issuance existed or while it failed. Locked; concurrent runs on PostgreSQL
    skip each other's rows."""
    missing = ~select(IssuedCredential.id).where(IssuedCredential.award_id == Award.id).exists()
    return list(
        session.scalars(
            select(Award)
            .where(Award.status == STATUS_ACTIVE, Award.id > after_id, missing)
            .order_by(Award.id)
            .limit(limit)
            .options(
                selectinload(Award.achievement).selectinload(Achievement.alignments),
                selectinload(Award.achievement).selectinload(Achievement.image),
                selectinload(Award.learner).selectinload(User.platform),
            )
            .with_for_update(skip_locked=True, of=Award)
        )
    )


def backfill_batch(
    session: Session, issuer: CredentialIssuer, *, batch: int = 200, after_id: int = 0
) -> list[IssuedCredential]:
    """Issue the credentials of the next ``batch`` active awards lacking one (idempotent:
    an award that has a credential is never picked again). The caller commits per batch and
    passes the last award id back as ``after_id``."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    awards = awards_without_credential(session, limit=batch, after_id=after_id)
    return issuer.issue_many(session, awards) if awards else []


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

#: Failure kinds that make ``POST /verify`` answer with a problem document (RFC 9457).
STATUS_UNAVAILABLE: Final = "status-list-unavailable"
PROBLEM_KINDS: Final = (
    UNKNOWN_DID_METHOD,
    DID_HOST_NOT_ALLOWED,
    DID_RESOLUTION_FAILED,
    DI.UNKNOWN_CONTEXT,
    DI.BAD_SIGNATURE,
    DI.ISSUER_NOT_CONTROLLER,
    DI.INVALID_PROOF,
    DI.INVALID_DOCUMENT,
    STATUS_UNAVAILABLE,
)


@dataclass
class Check:
    check: str
    passed: bool | None  # None: not applicable / not checked
    detail: str = ""
    kind: str | None = None  # why it failed, one of PROBLEM_KINDS (or None)

    def as_json(self) -> dict[str, Any]:
        result = "skipped" if self.passed is None else "passed" if self.passed else "failed"
        data = {"check": self.check, "result": result, "detail": self.detail}
        if self.kind is not None:
            data["kind"] = self.kind
        return data


@dataclass
class VerificationReport:
    checks: list[Check] = field(default_factory=list)
    status: str = VALID

    @property
    def verified(self) -> bool:
        return all(c.passed is not False for c in self.checks) and self.status == VALID

    @property
    def problem(self) -> Check | None:
        """The first failed check whose kind is a problem (bad proof, unresolvable DID...)."""
        return next((c for c in self.checks if c.passed is False and c.kind in PROBLEM_KINDS), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "status": self.status,
            "checks": [c.as_json() for c in self.checks],
        }


class Verifier:
    """Verify an OB 3.0 credential: proof, schema, dates, status.

    DIDs: did:key locally; our own did:web (any DID on our host) from our database; other
    did:web DIDs only from ``remote`` (:func:`lti_tool.openbadges.remote.collect`, fetched
    from allow-listed hosts *before* the session was opened); anything else is refused.
    Status: our own lists from the database, foreign lists from ``remote`` (verified there);
    a list on a host we may not fetch is reported as not checked.
    """

    def __init__(self, issuer: CredentialIssuer) -> None:
        self._issuer = issuer

    def is_local(self, did_or_url: str) -> bool:
        """Is this one of our DIDs (our host) or one of our URLs?"""
        config = self._issuer.config
        if did_or_url.startswith("did:web:"):
            own = config.identity
            return own.startswith("did:web:") and did_web_netloc(did_or_url) == did_web_netloc(own)
        return did_or_url.startswith(config.url("/"))

    def _resolver(
        self, session: Session, remote: RemoteMaterial | None
    ) -> Callable[[str], Mapping[str, Any]]:
        def resolve(did: str) -> Mapping[str, Any]:
            if self.is_local(did):
                document = self._issuer.did_document(session)
                if document is None or document["id"] != did:
                    raise DidResolutionError(
                        DID_RESOLUTION_FAILED, f"{did} is not a DID this host publishes"
                    )
                return document
            if remote is not None:
                return remote.did_document(did)
            if did.startswith("did:web:"):
                raise DidResolutionError(DID_HOST_NOT_ALLOWED, f"{did}: remote DIDs not resolved")
            raise DidResolutionError(UNKNOWN_DID_METHOD, f"{did}: only did:key and did:web")

        return resolve

    def verify(
        self,
        session: Session,
        document: Mapping[str, Any],
        now: datetime | None = None,
        remote: RemoteMaterial | None = None,
    ) -> VerificationReport:
        now = now or datetime.now(UTC)
        report = VerificationReport()
        proof = DI.verify(document, resolver=self._resolver(session, remote))
        report.checks.append(
            Check(
                "proof",
                proof.verified,
                "; ".join(proof.errors) or "eddsa-rdfc-2022 verified",
                proof.kinds[0] if proof.kinds else None,
            )
        )
        schema = validate_achievement_credential(document)
        report.checks.append(
            Check("schema", schema.valid, "; ".join(schema.errors[:10]) or "OB 3.0 schema")
        )
        report.checks.append(self._dates(document, now, report))
        report.checks.append(self._status(session, document, report, remote))
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
        self,
        session: Session,
        document: Mapping[str, Any],
        report: VerificationReport,
        remote: RemoteMaterial | None,
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
            if isinstance(url, str) and url.startswith(prefix):
                purpose, _, number = url[len(prefix) :].partition("/")
                row = (
                    self._issuer.status_list(session, purpose, int(number))
                    if number.isdigit()
                    else None
                )
                if row is None:
                    return Check("status", False, f"unknown status list {url}")
                signed = self._issuer.status_lists.signed_credential(session, row)
            else:
                try:
                    found = remote.status_list(url) if remote and isinstance(url, str) else None
                except RemoteFetchError as exc:
                    return Check("status", False, str(exc), STATUS_UNAVAILABLE)
                if found is None:
                    details.append(f"{url!r} not checked (host not on the allow-list)")
                    continue
                signed = found
            try:
                is_set = SL.entry_status(dict(item), signed)
            except (SL.StatusListError, IndexError) as exc:
                return Check("status", False, str(exc))
            purpose = str(item.get("statusPurpose"))
            if is_set:
                report.status = SUSPENDED if purpose == PURPOSE_SUSPENSION else REVOKED
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

    def verify_jwt(
        self, session: Session, token: str, remote: RemoteMaterial | None = None
    ) -> vcjwt.DecodedVcJwt:
        """Verify a VC-JWT signed with a did:key, one of our keys or a key of a remote did:web
        in ``remote`` (raises VcJwtError; its ``kind`` says why)."""
        resolve_did = self._resolver(session, remote)

        def resolve_key(kid: str, issuer: str) -> Any:
            if kid.startswith("did:key:"):
                did, key = resolve_did_key(kid)
                if did != issuer:
                    raise LookupError("kid is not the issuer's key")
                return key
            did = kid.partition("#")[0]
            if did != issuer:
                raise LookupError("kid is not a key of the issuer")
            try:
                return public_key_from_did_document(dict(resolve_did(did)), kid)
            except DidResolutionError:
                raise
            except KeyFormatError as exc:
                raise DidResolutionError(DID_RESOLUTION_FAILED, str(exc)) from exc

        return vcjwt.verify(token, resolve_key)


# -- installation -----------------------------------------------------------------------


def install(issuer: CredentialIssuer) -> CredentialIssuer:
    """Register ``issuer`` as the award listener and the achievement listener (re-issue on
    change), replacing an earlier one (one per process: the last app or CLI run that
    installs wins)."""
    award_listeners[:] = [x for x in award_listeners if not isinstance(x, CredentialIssuer)]
    award_listeners.append(issuer)
    achievement_listeners[:] = [
        x
        for x in achievement_listeners
        if not isinstance(getattr(x, "__self__", None), CredentialIssuer)
    ]
    achievement_listeners.append(issuer.achievement_changed)
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
