"""CLR 2.0 for pathways: when a learner completes a pathway, bundle its credentials.

:class:`ClrIssuer` is an award listener installed after the OB 3.0 :class:`CredentialIssuer`
(so the pathway award's own credential exists when it runs). On ``award.created`` of a pathway
award it walks the pathway's requirement tree, takes the signed credential of every
requirement the learner holds (recursing into sub-pathways), adds the pathway's own credential,
links them with ``isChildOf`` / ``isParentOf`` associations and signs the ``ClrCredential``
with ``eddsa-rdfc-2022`` by the same issuer key, in the award's transaction.

It needs the official CLR 2.0 JSON-LD context (not bundled: see :mod:`openbadges.clr`);
without one, :attr:`ClrIssuer.available` is False and nothing is issued.

Framework-free; nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.models import Award, IssuedClr, IssuerProfile, Pathway, User
from lti_tool.models.awards import STATUS_ACTIVE
from lti_tool.openbadges import clr as CLR
from lti_tool.openbadges import credential as C
from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges.keys import KeyFormatError

from . import issuerkeys
from .awards import AWARD_CREATED, award_listeners
from .issuance import CredentialIssuer, credential_of_award
from .pathways import MAX_DEPTH, load_tree


class ClrUnavailable(RuntimeError):
    """No CLR 2.0 context was configured, so no CLR can be signed."""


class ClrIssuer:
    def __init__(
        self,
        issuer: CredentialIssuer,
        context_document: Mapping[str, Any] | None,
        *,
        context_url: str = CLR.CLR_V2P0,
    ) -> None:
        self._issuer = issuer
        self._context_url = context_url
        self._loader = (
            CLR.clr_document_loader(context_document, context_url) if context_document else None
        )

    @property
    def available(self) -> bool:
        return self._loader is not None

    def __call__(self, session: Session, award: Award, event_type: str) -> None:
        if event_type == AWARD_CREATED and award.source == "pathway" and self.available:
            self.issue_for_award(session, award)

    # -- collecting ---------------------------------------------------------------------

    def components(
        self, session: Session, pathway: Pathway, learner: User, parent_id: str, depth: int = 0
    ) -> list[CLR.Component]:
        """The signed credentials of the requirements ``learner`` holds, under ``parent_id``
        (the pathway's achievement id); sub-pathways bring their own components along."""
        out: list[CLR.Component] = []
        seen: set[tuple[str, str]] = set()
        if depth > MAX_DEPTH:
            return out
        for leaf in load_tree(session, pathway).leaves():
            sub: Pathway | None = None
            achievement_id = leaf.achievement_id
            if leaf.pathway_id is not None:
                sub = session.get(Pathway, leaf.pathway_id)
                achievement_id = sub.achievement_id if sub is not None else None
            credential = self._held_credential(session, learner, achievement_id)
            if credential is None or (credential["id"], parent_id) in seen:
                continue  # not held, or named twice in the tree
            seen.add((credential["id"], parent_id))
            out.append(CLR.Component(credential, parent_id))
            if sub is not None:
                sub_id = str(CLR.achievement_of(credential)["id"])
                out.extend(self.components(session, sub, learner, sub_id, depth + 1))
        return out

    @staticmethod
    def _held_credential(
        session: Session, learner: User, achievement_id: int | None
    ) -> dict[str, Any] | None:
        if achievement_id is None:
            return None
        held = session.scalars(
            select(Award).where(
                Award.achievement_id == achievement_id,
                Award.user_id == learner.id,
                Award.platform_id == learner.platform_id,
                Award.status == STATUS_ACTIVE,
            )
        ).one_or_none()
        issued = credential_of_award(session, held.id) if held is not None else None
        return issued.credential if issued is not None else None

    # -- issuing --------------------------------------------------------------------------

    def issue_for_award(self, session: Session, award: Award) -> IssuedClr | None:
        """The CLR of the pathway ``award`` completes (existing one if any); None when the
        award is not a pathway's."""
        if self._loader is None:
            raise ClrUnavailable("no CLR 2.0 context configured (MICROCRED_CLR_CONTEXT_FILE)")
        existing = session.scalars(
            select(IssuedClr).where(IssuedClr.award_id == award.id)
        ).one_or_none()
        if existing is not None:
            return existing
        pathway = session.scalars(
            select(Pathway).where(
                Pathway.achievement_id == award.achievement_id,
                Pathway.platform_id == award.platform_id,
            )
        ).one_or_none()
        if pathway is None:
            return None
        own = self._issuer.issue(session, award)  # idempotent: listener order does not matter
        learner = award.learner
        root_id = str(CLR.achievement_of(own.credential)["id"])
        parts = self.components(session, pathway, learner, root_id)
        credentials = list(
            {c["id"]: c for c in [own.credential, *(p.credential for p in parts)]}.values()
        )
        config = self._issuer.config
        key_row = issuerkeys.current_key_row(session, config.box, config.identity)
        key = self._issuer.keys.signing_key(key_row, config.box)
        profile = session.get(IssuerProfile, award.platform_id)
        public_id = uuid.uuid4().hex
        unsigned = CLR.build_clr_credential(
            credential_id=config.url(f"/clr/{public_id}"),
            issuer=C.IssuerProfile(
                id=key.controller,
                name=(profile.name if profile else "") or learner.platform.name or config.tool_name,
                url=profile.url if profile else None,
            ),
            name=f"{pathway.name}: Comprehensive Learner Record",
            description=pathway.description or None,
            recipient=C.Recipient(
                email=learner.email or None,
                lti_user_id=learner.sub,
                lti_platform_id=learner.platform.issuer,
            ),
            salt=C.new_salt(),
            valid_from=award.issued_at,
            credentials=credentials,
            associations=CLR.stack_associations(parts),
            context_url=self._context_url,
        )
        signed = DI.sign(unsigned, key, loader=self._loader)
        row = IssuedClr(
            public_id=public_id,
            award_id=award.id,
            pathway_id=pathway.id,
            user_id=learner.id,
            platform_id=award.platform_id,
            key_id=key_row.id,
            credential=signed,
            issued_at=award.issued_at,
        )
        session.add(row)
        session.flush()
        return row

    def verify(self, session: Session, document: Mapping[str, Any]) -> DI.VerificationResult:
        """Check the CLR's proof (our did:web from the database, or a did:key)."""
        if self._loader is None:
            raise ClrUnavailable("no CLR 2.0 context configured (MICROCRED_CLR_CONTEXT_FILE)")

        def resolve(did: str) -> Mapping[str, Any]:
            found = self._issuer.did_document(session)
            if found is None or found["id"] != did:
                raise KeyFormatError(f"cannot resolve {did}: only did:key and our own did:web")
            return found

        return DI.verify(document, resolver=resolve, loader=self._loader)


def clr_of_pathway(session: Session, pathway_id: int, user: User) -> IssuedClr | None:
    return session.scalars(
        select(IssuedClr).where(
            IssuedClr.pathway_id == pathway_id,
            IssuedClr.user_id == user.id,
            IssuedClr.platform_id == user.platform_id,
        )
    ).one_or_none()


def install(clr_issuer: ClrIssuer) -> ClrIssuer:
    """Register ``clr_issuer`` as an award listener, replacing an earlier one; one without a
    CLR context only removes the earlier one (the last app or CLI run that installs wins)."""
    award_listeners[:] = [x for x in award_listeners if not isinstance(x, ClrIssuer)]
    if clr_issuer.available:
        award_listeners.append(clr_issuer)
    return clr_issuer
