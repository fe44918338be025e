"""Record awards in SAP SuccessFactors Employee Profile (a background element, OData v2).

* Auth: OAuth 2.0 SAML bearer (RFC 7522, see :mod:`connectors.successfactors.token`). A
  401 on an OData call made with a cached token refreshes it once within the attempt.
* ``push``: read first (``GET /odata/v2/{entity}?$filter=userId eq '..' and
  {external_id_field} eq '{award id}'``); the same content -> nothing to send; different
  -> ``POST /odata/v2/upsert`` with the entry's key (update); absent -> upsert without a key
  (insert). The award id in ``external_id_field`` makes a retry find the entry it created.
  ``external_id`` = the entry's ``backgroundElementId``.
* ``revoke``: end-dates the entry (``expires_field`` = withdrawal date) or deletes it
  (``DELETE /odata/v2/{entity}(backgroundElementId=..L,userId='..')``), as configured.
* Upsert answers per record (``status`` OK/ERROR); an ERROR (an unknown user, a field the
  element lacks) is ``REJECTED`` with SuccessFactors' message.
* ``check``: a token, then ``GET /odata/v2/{entity}?$top=1``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import requests

from connectors.base import (
    WITHDRAWING_EVENTS,
    AwardEvent,
    AwardStatus,
    Connector,
    EventType,
    Outcome,
    Result,
)
from connectors.http import result_from_response, send
from connectors.successfactors.odata import (
    MalformedAnswer,
    entry_key,
    from_date,
    literal,
    results,
    to_date,
    upsert_status,
)
from connectors.successfactors.token import USER_AGENT, SamlBearerTokens
from schemas.connectors.successfactors import SuccessFactorsSettingsSchema


def _day(moment: datetime | None) -> date | None:
    return moment.astimezone(UTC).date() if moment is not None else None


class SuccessFactorsConnector(Connector):
    key = "successfactors"
    capabilities: ClassVar[frozenset[str]] = frozenset(str(kind) for kind in EventType)
    settings_schema = SuccessFactorsSettingsSchema

    clock: ClassVar[Callable[[], float]] = time.monotonic  # tests may pin it

    def __init__(
        self,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        session: requests.Session,
    ) -> None:
        super().__init__(settings, secrets, session)
        api = self.settings["api_url"]
        self.odata = f"{api}/odata/v2"
        self.tokens = SamlBearerTokens(
            session,
            token_url=f"{api}/oauth/token",
            company_id=self.settings["company_id"],
            client_id=self.settings["client_id"],
            user_id=self.settings["user_id"],
            private_key_pem=self.settings["private_key"],
            certificate_pem=self.settings["certificate"],
            audience=self.settings["audience"],
            timeout=self.settings["timeout"],
            clock=type(self).clock,
        )

    # -- contract ---------------------------------------------------------------------------

    def check(self) -> Result:
        answer = self._odata(
            "GET", self.settings["entity"], what="check", params={"$top": "1", "$format": "json"}
        )
        if isinstance(answer, Result):
            return answer
        try:
            results(answer.json())
        except (ValueError, MalformedAnswer) as exc:
            return Result(Outcome.RETRY, detail=f"check: unexpected answer: {exc}")
        return Result(
            Outcome.DELIVERED,
            detail=f"check: token issued, {self.settings['entity']} readable",
            status_code=answer.status_code,
        )

    def push(self, event: AwardEvent) -> Result:
        refused = self.unsupported(event, "push")
        if refused:
            return refused
        if event.status is not AwardStatus.ACTIVE:
            return self._withdraw(event)
        return self._record(event)

    def revoke(self, event: AwardEvent) -> Result:
        return self.unsupported(event, "revoke") or self._withdraw(event)

    # -- flows ------------------------------------------------------------------------------

    def _record(self, event: AwardEvent) -> Result:
        what = str(event.type)
        user = self._user(event)
        if isinstance(user, Result):
            return user
        found = self._find(event, user, what=what)
        if isinstance(found, Result):
            return found
        wanted = self._fields(event)
        if found is not None and self._same(found, wanted):
            return Result(
                Outcome.DELIVERED,
                external_id=str(found["backgroundElementId"]),
                detail=f"{what}: the entry already says this",
                status_code=200,
            )
        return self._upsert(event, user, wanted, found, what=what)

    def _withdraw(self, event: AwardEvent) -> Result:
        what = str(event.type)
        user = self._user(event)
        if isinstance(user, Result):
            return user
        found = self._find(event, user, what=what)
        if isinstance(found, Result):
            return found
        if found is None:
            return Result(
                Outcome.DELIVERED,
                external_id=event.external_id,
                detail=f"{what}: the user holds no entry for this award",
                status_code=200,
            )
        element_id = str(found["backgroundElementId"])
        if self.settings["revocation"] == "remove":
            key = entry_key(self.settings["entity"], element_id, user)
            answer = self._odata("DELETE", key, what=what)
            if isinstance(answer, Result):
                return answer
            return Result(
                Outcome.DELIVERED,
                external_id=element_id,
                detail=f"{what}: entry deleted",
                status_code=answer.status_code,
            )
        withdrawn_on = _day(event.occurred_at)
        try:
            ends = from_date(found.get(self.settings["expires_field"]))
        except MalformedAnswer:
            ends = None
        if ends is not None and withdrawn_on is not None and ends <= withdrawn_on:
            return Result(
                Outcome.DELIVERED,
                external_id=element_id,
                detail=f"{what}: the entry already ends on {ends}",
                status_code=200,
            )
        return self._upsert(event, user, self._fields(event), found, what=what)

    # -- helpers ----------------------------------------------------------------------------

    def _user(self, event: AwardEvent) -> str | Result:
        source = self.settings["user_id_source"]
        value = event.learner.hr_ids.get(source)
        if not value:
            return Result(
                Outcome.REJECTED,
                detail=f"{event.type}: the learner has no {source!r} HR identifier, so the "
                "SuccessFactors user cannot be found",
            )
        return value

    def _fields(self, event: AwardEvent) -> dict[str, Any]:
        s = self.settings
        expires = _day(event.expires_at)
        if event.type in WITHDRAWING_EVENTS or event.status is not AwardStatus.ACTIVE:
            expires = _day(event.occurred_at)
        wanted: dict[str, Any] = {s["external_id_field"]: event.award_id}
        if s["name_field"]:
            wanted[s["name_field"]] = event.achievement.name
        if s["issuer_field"]:
            wanted[s["issuer_field"]] = s["issuer"]
        if s["url_field"]:
            wanted[s["url_field"]] = event.verification_url
        issued = _day(event.issued_at)
        if s["issued_field"] and issued is not None:
            wanted[s["issued_field"]] = to_date(issued)
        if s["expires_field"]:
            wanted[s["expires_field"]] = to_date(expires) if expires is not None else None
        return wanted

    def _same(self, entry: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
        dates = {self.settings["issued_field"], self.settings["expires_field"]} - {None}
        for name, value in wanted.items():
            current = entry.get(name)
            if name in dates:
                try:
                    if from_date(current) != (from_date(value) if value else None):
                        return False
                except MalformedAnswer:
                    return False
            elif current != value:
                return False
        return True

    def _find(
        self, event: AwardEvent, user: str, *, what: str
    ) -> Mapping[str, Any] | Result | None:
        query = (
            f"userId eq {literal(user)} and "
            f"{self.settings['external_id_field']} eq {literal(event.award_id)}"
        )
        answer = self._odata(
            "GET",
            self.settings["entity"],
            what=f"{what}: read",
            params={"$filter": query, "$format": "json"},
        )
        if isinstance(answer, Result):
            return answer
        try:
            entries = results(answer.json())
        except (ValueError, MalformedAnswer) as exc:
            return Result(Outcome.RETRY, detail=f"{what}: read: unexpected answer: {exc}")
        for entry in entries:
            if "backgroundElementId" in entry:
                return entry
        return None

    def _upsert(
        self,
        event: AwardEvent,
        user: str,
        wanted: Mapping[str, Any],
        found: Mapping[str, Any] | None,
        *,
        what: str,
    ) -> Result:
        entity = self.settings["entity"]
        record: dict[str, Any] = {"__metadata": {"uri": entity}, "userId": user, **wanted}
        if found is not None:
            element_id = str(found["backgroundElementId"])
            record["__metadata"] = {"uri": entry_key(entity, element_id, user)}
            record["backgroundElementId"] = element_id
        answer = self._odata("POST", "upsert", what=what, params={"$format": "json"}, json=record)
        if isinstance(answer, Result):
            return answer
        try:
            status = upsert_status(answer.json())
        except (ValueError, MalformedAnswer) as exc:
            return Result(Outcome.RETRY, detail=f"{what}: unexpected upsert answer: {exc}")
        if not status.ok:
            message = " ".join(status.message.split())[:300]
            return Result(
                Outcome.REJECTED,
                detail=f"{what}: SuccessFactors refused the entry for user {user}: {message}",
                status_code=status.http_code or answer.status_code,
            )
        entry_id = status.key.get("backgroundElementId") or (
            str(found["backgroundElementId"]) if found is not None else None
        )
        if entry_id is None:
            return Result(Outcome.RETRY, detail=f"{what}: the upsert answer names no entry key")
        return Result(
            Outcome.DELIVERED,
            external_id=entry_id,
            detail=f"{what}: entry {(status.edit_status or 'upserted').lower()}",
            status_code=answer.status_code,
        )

    # -- HTTP -------------------------------------------------------------------------------

    def _odata(
        self, method: str, resource: str, *, what: str, **kwargs: Any
    ) -> requests.Response | Result:
        cached = self.tokens.cached
        response = self._authorized(method, resource, what=what, **kwargs)
        if cached and isinstance(response, requests.Response) and response.status_code == 401:
            self.tokens.forget()  # revoked or expired early: one refresh within the attempt
            response = self._authorized(method, resource, what=what, **kwargs)
        if isinstance(response, Result):
            return response
        if not 200 <= response.status_code < 300:
            return result_from_response(response, secrets=self.tokens.scrub, what=what)
        return response

    def _authorized(
        self, method: str, resource: str, *, what: str, **kwargs: Any
    ) -> requests.Response | Result:
        token = self.tokens.get(what=what)
        if isinstance(token, Result):
            return token
        return send(
            self.session,
            method,
            f"{self.odata}/{resource}",
            timeout=self.settings["timeout"],
            what=what,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            **kwargs,
        )
