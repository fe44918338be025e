"""Record awards in a Learning Record Store over xAPI 1.0.3 with HTTP Basic auth.

* ``push``: ``PUT {endpoint}/statements?statementId=<uuid>``; the id is derived from the
  event's idempotency key, so a retry repeats an identical PUT and the LRS answers 204
  without storing a second statement. ``external_id`` = the statement id.
  An ``updated`` award gets a new statement and the previous one (``event.external_id``)
  is voided; ``reinstated`` gets a new statement (the old one was voided on suspension).
* ``revoke``: revoked and suspended awards are voided: a ``voided`` statement whose object
  is a ``StatementRef`` to ``event.external_id``. Expiry is not recorded (the learner still
  received the credential), so ``credential.expired`` is not among the capabilities.
* 409 from the LRS means it already holds *different* content under our id: a bug or a
  changed setting (payload drift). It is ``REJECTED``, never retried.
* ``check``: ``GET {endpoint}/about`` must list version 1.0.3, then
  ``GET {endpoint}/statements?limit=1`` must accept the credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from connectors.base import (
    AwardEvent,
    AwardStatus,
    Connector,
    EventType,
    Outcome,
    Result,
)
from connectors.http import basic_auth_token, result_from_response, send
from connectors.xapi.statements import award_statement, voiding_statement
from schemas.connectors.xapi import XapiSettingsSchema

XAPI_VERSION = "1.0.3"
VOID_PREVIOUS = "void-previous"


class XapiConnector(Connector):
    key = "xapi"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        str(kind)
        for kind in (
            EventType.AWARDED,
            EventType.REINSTATED,
            EventType.UPDATED,
            EventType.REVOKED,
            EventType.SUSPENDED,
        )
    )
    settings_schema = XapiSettingsSchema

    def __init__(
        self,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        session: requests.Session,
    ) -> None:
        super().__init__(settings, secrets, session)
        user, password = self.settings["username"], self.settings["password"]
        self._auth = (user, password)
        self._scrub = (password, basic_auth_token(user, password))

    # -- contract ---------------------------------------------------------------------------

    def check(self) -> Result:
        about = self._request("GET", "about", what="check")
        if isinstance(about, Result):
            return about
        if not about.ok:
            return result_from_response(about, secrets=self._scrub, what="check")
        versions = _versions(about)
        if XAPI_VERSION not in versions:
            listed = ", ".join(versions) or "none"
            return Result(
                Outcome.REJECTED,
                detail=f"check: the LRS supports xAPI {listed}, not {XAPI_VERSION}",
                status_code=about.status_code,
            )
        probe = self._request("GET", "statements", params={"limit": "1"}, what="check")
        if isinstance(probe, Result):
            return probe
        result = result_from_response(probe, secrets=self._scrub, what="check")
        if result.ok:
            return Result(
                Outcome.DELIVERED,
                detail=f"check: LRS reachable, credentials accepted, xAPI {XAPI_VERSION}",
                status_code=probe.status_code,
            )
        return result

    def push(self, event: AwardEvent) -> Result:
        refused = self.unsupported(event, "push")
        if refused:
            return refused
        if event.type is EventType.UPDATED and event.status is not AwardStatus.ACTIVE:
            return Result(
                Outcome.DELIVERED,
                external_id=event.external_id,
                detail=f"award is {event.status}: its statement stays voided",
            )
        statement = award_statement(
            event, share_email=self.settings["share_email"], language=self.settings["language"]
        )
        stored = self._put(statement, what=str(event.type))
        if not stored.ok:
            return stored
        previous = event.external_id
        if event.type is EventType.UPDATED and previous and previous != statement["id"]:
            voiding = voiding_statement(
                event, previous, share_email=self.settings["share_email"], purpose=VOID_PREVIOUS
            )
            voided = self._put(voiding, what="void previous statement")
            if not voided.ok:
                return voided
        return Result(
            Outcome.DELIVERED,
            external_id=statement["id"],
            detail=stored.detail,
            status_code=stored.status_code,
        )

    def revoke(self, event: AwardEvent) -> Result:
        refused = self.unsupported(event, "revoke")
        if refused:
            return refused
        if not event.external_id:
            return Result(
                Outcome.REJECTED,
                detail=f"{event.type}: no award statement was recorded on this connection, "
                "so there is nothing to void",
            )
        statement = voiding_statement(
            event, event.external_id, share_email=self.settings["share_email"]
        )
        return self._put(statement, what=str(event.type))

    # -- HTTP -------------------------------------------------------------------------------

    def _request(
        self, method: str, resource: str, *, what: str, **kwargs: Any
    ) -> requests.Response | Result:
        headers = {"X-Experience-API-Version": XAPI_VERSION, **kwargs.pop("headers", {})}
        return send(
            self.session,
            method,
            f"{self.settings['endpoint']}/{resource}",
            timeout=self.settings["timeout"],
            what=what,
            auth=self._auth,
            headers=headers,
            **kwargs,
        )

    def _put(self, statement: Mapping[str, Any], *, what: str) -> Result:
        sid = statement["id"]
        response = self._request(
            "PUT", "statements", params={"statementId": sid}, json=statement, what=what
        )
        if isinstance(response, Result):
            return response
        if response.status_code == 409:
            return Result(
                Outcome.REJECTED,
                detail=f"{what}: HTTP 409 Conflict: the LRS holds different content under "
                f"statement {sid} (payload drift; not retried)",
                status_code=409,
            )
        return result_from_response(response, secrets=self._scrub, external_id=sid, what=what)


def _versions(response: requests.Response) -> list[str]:
    try:
        about = response.json()
    except ValueError:
        return []
    versions = about.get("version") if isinstance(about, dict) else None
    if not isinstance(versions, list):
        return []
    return [str(version) for version in versions]
