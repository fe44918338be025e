"""Record awards as verified completions in Degreed (API v2, OAuth 2.0 client credentials).

* ``push`` (awarded, reinstated, updated): find the achievement's content by our external id
  (``GET /api/v2/content?filter[external_id]=``), create it when missing and allowed
  (``POST /api/v2/content/<type>``), look for the learner's completion of that content
  (``GET /api/v2/users/{user}/completions?identifier=Email|EmployeeId``) and only when there
  is none create it (``POST /api/v2/completions``). A retry therefore never adds a second
  completion. ``external_id`` = Degreed's completion id.
* ``revoke`` (revoked, suspended): ``DELETE /api/v2/completions/{id}``; a 404 means it is
  already gone. Expiry is not sent: the learner did complete the learning.
* Every request is counted against a per-client budget (200/min by default, Degreed's
  published limit) and ``X-Rate-Limit-Remaining: 0`` stops the sequence until the reset;
  429 maps to ``RETRY`` with ``Retry-After``.
* ``check``: fetch a token, then ``GET /api/v2/completions?limit=1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import requests

from connectors.base import AwardEvent, AwardStatus, Connector, EventType, Outcome, Result
from connectors.degreed import oauth, payload
from connectors.degreed.ratelimit import RequestBudget, budget_for
from connectors.http import parse_retry_after, result_from_response, send
from schemas.connectors.degreed import DegreedSettingsSchema

USER_AGENT = "Microcred-Degreed/1"
JSON_API = "application/json"


class DegreedConnector(Connector):
    key = "degreed"
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
    settings_schema = DegreedSettingsSchema
    tokens: ClassVar[oauth.TokenCache] = oauth.TOKENS

    def __init__(
        self,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        session: requests.Session,
    ) -> None:
        super().__init__(settings, secrets, session)
        s = self.settings
        self._secret: str = s["client_secret"]
        self._token_key = oauth.TokenCache.key(
            s["token_url"], s["client_id"], s["scope"], self._secret
        )
        self.budget: RequestBudget = budget_for(
            s["api_url"], s["client_id"], s["rate_limit_per_minute"]
        )
        self._token: str | None = None

    # -- contract ---------------------------------------------------------------------------

    def check(self) -> Result:
        response = self._api("GET", "/api/v2/completions", what="check", params={"limit": "1"})
        if isinstance(response, Result):
            return response
        result = self._result(response, what="check")
        if result.ok:
            return Result(
                Outcome.DELIVERED,
                detail="check: Degreed reachable, API key and completions scope accepted",
                status_code=response.status_code,
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
                detail=f"award is {event.status}: its completion stays removed",
            )
        user = self._user(event)
        if isinstance(user, Result):
            return user
        content_id = self._content_id(event, create=self.settings["create_content"])
        if isinstance(content_id, Result):
            return content_id
        assert content_id is not None
        existing = self._find_completion(user, content_id)
        if isinstance(existing, Result):
            return existing
        if existing is not None:
            return Result(
                Outcome.DELIVERED,
                external_id=existing,
                detail="completion already recorded in Degreed",
            )
        return self._create_completion(event, user, content_id)

    def revoke(self, event: AwardEvent) -> Result:
        refused = self.unsupported(event, "revoke")
        if refused:
            return refused
        target = event.external_id
        if not target:
            user = self._user(event)
            if isinstance(user, Result):
                return user
            content_id = self._content_id(event, create=False)
            if isinstance(content_id, Result):
                return content_id
            found = self._find_completion(user, content_id) if content_id else None
            if isinstance(found, Result):
                return found
            if found is None:
                return Result(Outcome.DELIVERED, detail="no completion in Degreed to remove")
            target = found
        what = f"{event.type}: delete completion"
        response = self._api("DELETE", f"/api/v2/completions/{quote(target, safe='')}", what=what)
        if isinstance(response, Result):
            return response
        if response.status_code == 404:
            return Result(
                Outcome.DELIVERED,
                external_id=target,
                detail=f"{what}: already removed (HTTP 404)",
                status_code=404,
            )
        return self._result(response, what=what, external_id=target)

    # -- steps ------------------------------------------------------------------------------

    def _user(self, event: AwardEvent) -> tuple[str, str] | Result:
        kind = self.settings["user_identifier"]
        if kind == "email":
            value = event.learner.email
            missing = "the LMS did not share the learner's email"
        else:
            key = self.settings["employee_id_key"]
            value = event.learner.hr_ids.get(key)
            missing = f"the learner has no {key!r} HR id (import the mapping first)"
        if not value:
            return Result(Outcome.REJECTED, detail=f"cannot find the Degreed user: {missing}")
        return value, payload.IDENTIFIER_TYPES[kind]

    def _content_id(self, event: AwardEvent, *, create: bool) -> str | Result | None:
        external = payload.content_external_id(event.achievement)
        what = "find content"
        response = self._api(
            "GET", "/api/v2/content", what=what, params={"filter[external_id]": external}
        )
        if isinstance(response, Result):
            return response
        if not _success(response):
            return self._result(response, what=what)
        for record in payload.records(_json(response)):
            if payload.attribute(record, "external-id") == external:
                return str(record["id"])
        if not create:
            if event.type in (EventType.REVOKED, EventType.SUSPENDED):
                return None
            return Result(
                Outcome.REJECTED,
                detail=f"{what}: no Degreed content with external id {external}; create it "
                "or enable create_content",
                status_code=response.status_code,
            )
        kind = self.settings["content_type"]
        what = "create content"
        response = self._api(
            "POST",
            f"/api/v2/content/{payload.CONTENT_PATHS[kind]}",
            what=what,
            json=payload.content_body(event.achievement, kind),
        )
        if isinstance(response, Result):
            return response
        if not _success(response):
            return self._result(response, what=what)
        created = payload.records(_json(response))
        if not created:
            return Result(
                Outcome.RETRY,
                detail=f"{what}: HTTP {response.status_code} without a content id",
                status_code=response.status_code,
            )
        return str(created[0]["id"])

    def _find_completion(self, user: tuple[str, str], content_id: str) -> str | Result | None:
        value, identifier_type = user
        what = "find completion"
        response = self._api(
            "GET",
            f"/api/v2/users/{quote(value, safe='')}/completions",
            what=what,
            params={"identifier": identifier_type, "filter[content_id]": content_id},
        )
        if isinstance(response, Result):
            return response
        if response.status_code == 404:
            return Result(
                Outcome.REJECTED,
                detail=f"{what}: no Degreed user with this {identifier_type} (HTTP 404)",
                status_code=404,
            )
        if not _success(response):
            return self._result(response, what=what)
        for record in payload.records(_json(response)):
            if str(payload.attribute(record, "content-id")) == content_id:
                return str(record["id"])
        return None

    def _create_completion(
        self, event: AwardEvent, user: tuple[str, str], content_id: str
    ) -> Result:
        what = f"{event.type}: create completion"
        body = payload.completion_body(
            event,
            user_id=user[0],
            identifier_type=user[1],
            content_id=content_id,
            content_type=self.settings["content_type"],
            is_verified=self.settings["is_verified"],
        )
        response = self._api("POST", "/api/v2/completions", what=what, json=body)
        if isinstance(response, Result):
            return response
        if not _success(response):
            return self._result(response, what=what)
        created = payload.records(_json(response))
        if not created:
            return Result(
                Outcome.RETRY,
                detail=f"{what}: HTTP {response.status_code} without a completion id",
                status_code=response.status_code,
            )
        return self._result(response, what=what, external_id=str(created[0]["id"]))

    # -- HTTP -------------------------------------------------------------------------------

    @property
    def _scrub(self) -> tuple[str, ...]:
        values = [self._secret, quote_plus(self._secret), quote(self._secret, safe="")]
        if self._token:
            values.append(self._token)
        return tuple(values)

    def _result(
        self, response: requests.Response, *, what: str, external_id: str | None = None
    ) -> Result:
        return result_from_response(
            response, secrets=self._scrub, external_id=external_id, what=what
        )

    def _reserve(self, what: str) -> Result | None:
        wait = self.budget.reserve()
        if wait is None:
            return None
        return Result(
            Outcome.RETRY,
            detail=f"{what}: Degreed rate limit ({self.budget.limit}/min for this API "
            f"client) reached; not sent",
            retry_after=float(max(1, round(wait))),
        )

    def _access_token(self, what: str) -> tuple[str, bool] | Result:
        cached = self.tokens.get(self._token_key)
        if cached is not None:
            return cached, True
        spent = self._reserve(what)
        if spent:
            return spent
        s = self.settings
        fetched = oauth.request_token(
            self.session,
            token_url=s["token_url"],
            client_id=s["client_id"],
            client_secret=self._secret,
            scope=s["scope"],
            timeout=s["timeout"],
            secrets=self._scrub,
        )
        if isinstance(fetched, Result):
            return fetched
        value, lifetime = fetched
        self.tokens.put(self._token_key, value, lifetime)
        return value, False

    def _api(
        self, method: str, path: str, *, what: str, **kwargs: Any
    ) -> requests.Response | Result:
        """One API call with a bearer token; a cached token refused with 401 is renewed once."""
        for _attempt in range(2):
            token = self._access_token(what)
            if isinstance(token, Result):
                return token
            self._token, cached = token
            spent = self._reserve(what)
            if spent:
                return spent
            headers = {
                "Authorization": f"Bearer {self._token}",
                "Accept": JSON_API,
                "User-Agent": USER_AGENT,
            }
            response = send(
                self.session,
                method,
                self.settings["api_url"] + path,
                timeout=self.settings["timeout"],
                what=what,
                headers=headers,
                **kwargs,
            )
            if isinstance(response, Result):
                return response
            self.budget.server_says(
                response.headers.get("X-Rate-Limit-Remaining"),
                response.headers.get("X-Rate-Limit-Reset"),
            )
            if response.status_code == 429:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                self.budget.block_for(wait if wait is not None else 60.0)
            if response.status_code == 401 and cached:
                self.tokens.forget(self._token_key, self._token)
                continue
            return response
        return response


def _success(response: requests.Response) -> bool:
    return 200 <= response.status_code < 300


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
