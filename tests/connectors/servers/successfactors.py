"""A local SAP SuccessFactors API server enforcing the contract the connector relies on.

Listens on 127.0.0.1 and serves:

* ``POST /oauth/token`` (OAuth 2.0 SAML bearer, RFC 7522): form fields ``company_id``,
  ``client_id``, ``grant_type=urn:ietf:params:oauth:grant-type:saml2-bearer`` and
  ``assertion`` (base64). The assertion's XML signature is verified (signxml) against the
  certificate registered for the client; then ``Issuer`` and the ``api_key`` attribute must
  be the client id, ``NameID`` a known user, the audience ``www.successfactors.com``, the
  ``Recipient`` the token endpoint, the bearer confirmation and the ``Conditions`` window
  current. Missing fields: 400 ``invalid_request``; anything else wrong: 401
  ``invalid_grant``. Success: ``{"access_token", "token_type": "Bearer", "expires_in"}``.
* OData v2 under ``/odata/v2`` with ``Authorization: Bearer`` (else 401), JSON only
  (``$format=json`` or ``Accept: application/json``, else 406):
  ``GET /{entity}?$filter=p eq 'v' and ...&$top=n`` -> ``{"d": {"results": [...]}}``;
  ``POST /upsert`` (``Content-Type: application/json``, else 415) -> 200 with one status
  per record (``key``, ``status`` OK/ERROR, ``editStatus``, ``message``, ``httpCode``);
  records are checked for ``__metadata.uri``, an existing ``userId``, the element's
  required fields, only known properties and ``/Date(ms)/`` dates;
  ``DELETE /{entity}(backgroundElementId=nL,userId='u')`` -> 204 (404 if absent).
* Optional rate limit: 429 with ``Retry-After``.
* State: entries per background element, a deletion log, the tokens issued.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from signxml import XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from connectors.base import WITHDRAWING_EVENTS, AwardEvent
from connectors.successfactors.odata import from_date
from connectors.testing import LocalServer, QuietHandler

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:saml2-bearer"
AUDIENCE = "www.successfactors.com"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
SKEW = timedelta(minutes=2)
FILTER_TERM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+eq\s+'((?:[^']|'')*)'\s*$")
KEY_PREDICATE = re.compile(r"^backgroundElementId=(\d+)L?,userId='((?:[^']|'')*)'$")
DATE_VALUE = re.compile(r"^/Date\(-?\d+([+-]\d{4})?\)/$")


class Refused(Exception):
    def __init__(self, status: int, payload: Mapping[str, Any]) -> None:
        super().__init__(status)
        self.status, self.payload = status, payload


def odata_error(status: int, message: str, code: str = "COE_GENERAL_BAD_REQUEST") -> Refused:
    return Refused(
        status, {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}
    )


def grant_error(status: int, error: str, description: str) -> Refused:
    return Refused(status, {"error": error, "error_description": description})


@dataclass
class Element:
    """A background element: its OData entity and fields."""

    entity: str
    fields: frozenset[str]
    required: frozenset[str]
    dates: frozenset[str]
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)


class SuccessFactorsTenant:
    def __init__(
        self,
        *,
        company_id: str,
        client_id: str,
        certificate_pem: str,
        api_user: str,
        users: set[str] | None = None,
        entity: str,
        fields: set[str],
        required: set[str],
        dates: set[str],
        token_lifetime: int = 86399,
    ) -> None:
        self.company_id, self.client_id, self.api_user = company_id, client_id, api_user
        self.certificate_pem = certificate_pem
        self.users = set(users or ())
        self.element = Element(entity, frozenset(fields), frozenset(required), frozenset(dates))
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self.assertions_seen: set[str] = set()
        self.deleted: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.limit: tuple[int, float] | None = None
        self._hits: deque[float] = deque()
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()
        server = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body, extra = server.handle(
                    self.command, self.path, headers, self.read_body()
                )
                self.reply(status, body, extra)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

        self._server = LocalServer(Handler)
        self.url = self._server.base_url

    # -- test controls ----------------------------------------------------------------------

    def add_user(self, user_id: str) -> None:
        with self._lock:
            self.users.add(user_id)

    def rate_limit(self, limit: int, window: float) -> None:
        self.limit = (limit, window)

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def entries(self, user_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(e)
                for e in self.element.entries.values()
                if user_id is None or e["userId"] == user_id
            ]

    def stored_count(
        self, event: AwardEvent, *, field_name: str = "externalId", ends: str = "endDate"
    ) -> int:
        """Entries for the award; for withdrawals: end-dated entries plus deletions."""
        held = [e for e in self.entries() if e.get(field_name) == event.award_id]
        if event.type not in WITHDRAWING_EVENTS:
            return len(held)
        withdrawn_on = event.occurred_at.astimezone(UTC).date()
        ended = [
            e for e in held if e.get(ends) and (from_date(e[ends]) or withdrawn_on) <= withdrawn_on
        ]
        return len(ended) + sum(1 for e in self.deleted if e.get(field_name) == event.award_id)

    def close(self) -> None:
        self._server.close()

    # -- HTTP -------------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        wait = self._throttle()
        if wait is not None:
            return (
                429,
                b'{"error": "rate limit exceeded"}',
                {"Retry-After": str(wait), "Content-Type": "application/json"},
            )
        try:
            if parts.path == "/oauth/token":
                if method != "POST":
                    raise grant_error(405, "invalid_request", "POST only")
                payload = self._token(headers, body)
                return 200, _json(payload), {"Content-Type": "application/json"}
            if parts.path.startswith("/odata/v2/"):
                return self._odata(
                    method, parts.path.removeprefix("/odata/v2/"), query, headers, body
                )
            raise odata_error(404, f"No resource at {parts.path}", "COE_RESOURCE_NOT_FOUND")
        except Refused as refused:
            extra = {"Content-Type": "application/json"}
            if refused.status == 401 and parts.path != "/oauth/token":
                extra["WWW-Authenticate"] = 'Bearer realm="SuccessFactors"'
            return refused.status, _json(refused.payload), extra

    def _throttle(self) -> int | None:
        if self.limit is None:
            return None
        limit, window = self.limit
        now = time.monotonic()
        with self._lock:
            while self._hits and self._hits[0] <= now - window:
                self._hits.popleft()
            if len(self._hits) >= limit:
                return max(1, math.ceil(self._hits[0] + window - now))
            self._hits.append(now)
        return None

    # -- OAuth SAML bearer ------------------------------------------------------------------

    def _token(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise grant_error(400, "invalid_request", "form-encoded body required")
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        missing = [
            n for n in ("company_id", "client_id", "grant_type", "assertion") if not form.get(n)
        ]
        if missing:
            raise grant_error(400, "invalid_request", f"missing {', '.join(missing)}")
        if form["grant_type"] != GRANT_TYPE:
            raise grant_error(400, "unsupported_grant_type", form["grant_type"])
        if form["company_id"] != self.company_id or form["client_id"] != self.client_id:
            raise grant_error(401, "invalid_client", "unknown company or client")
        try:
            document = base64.b64decode(form["assertion"], validate=True)
        except (binascii.Error, ValueError):
            raise grant_error(401, "invalid_grant", "assertion is not base64") from None
        try:
            verified = XMLVerifier().verify(document, x509_cert=self.certificate_pem)
        except (InvalidSignature, InvalidInput, etree.XMLSyntaxError) as exc:
            raise grant_error(401, "invalid_grant", f"signature: {type(exc).__name__}") from None
        if isinstance(verified, list):  # one reference is expected; several are refused
            raise grant_error(401, "invalid_grant", "exactly one signed reference expected")
        signed = verified.signed_xml  # only what the signature covers is trusted below
        if signed is None or signed.tag != f"{{{SAML}}}Assertion":
            raise grant_error(401, "invalid_grant", "the signature does not cover an Assertion")
        self._check_assertion(signed)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[token] = time.time() + self.token_lifetime
            self.calls.append("token")
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}

    def _check_assertion(self, assertion: etree._Element) -> None:
        ns = {"s": SAML}

        def text(path: str) -> str:
            return (assertion.findtext(path, namespaces=ns) or "").strip()

        def refuse(why: str) -> Refused:
            return grant_error(401, "invalid_grant", why)

        now = datetime.now(UTC)
        if assertion.get("Version") != "2.0" or not assertion.get("ID"):
            raise refuse("not a SAML 2.0 assertion with an ID")
        if assertion.get("ID") in self.assertions_seen:
            raise refuse("assertion replayed")
        if text("s:Issuer") != self.client_id:
            raise refuse("Issuer is not the client's API key")
        api_keys = assertion.findall(
            "s:AttributeStatement/s:Attribute[@Name='api_key']/s:AttributeValue", ns
        )
        if [value.text for value in api_keys] != [self.client_id]:
            raise refuse("api_key attribute is not the client's API key")
        if text("s:Subject/s:NameID") != self.api_user:
            raise refuse("NameID is not the API user")
        confirmation = assertion.find("s:Subject/s:SubjectConfirmation", ns)
        if confirmation is None or confirmation.get("Method") != BEARER:
            raise refuse("no bearer SubjectConfirmation")
        data = confirmation.find("s:SubjectConfirmationData", ns)
        if data is None or urlsplit(data.get("Recipient", "")).path != "/oauth/token":
            raise refuse("Recipient is not the token endpoint")
        if _instant(data.get("NotOnOrAfter")) <= now - SKEW:
            raise refuse("bearer confirmation expired")
        conditions = assertion.find("s:Conditions", ns)
        if conditions is None:
            raise refuse("no Conditions")
        if _instant(conditions.get("NotBefore")) > now + SKEW:
            raise refuse("assertion not yet valid")
        if _instant(conditions.get("NotOnOrAfter")) <= now - SKEW:
            raise refuse("assertion expired")
        if text("s:Conditions/s:AudienceRestriction/s:Audience") != AUDIENCE:
            raise refuse("wrong audience")
        with self._lock:
            self.assertions_seen.add(assertion.get("ID", ""))

    # -- OData ------------------------------------------------------------------------------

    def _odata(
        self,
        method: str,
        resource: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, bytes, dict[str, str]]:
        self._authorize(headers)
        if query.get("$format") != "json" and "application/json" not in headers.get("accept", ""):
            raise odata_error(406, "This server answers JSON only ($format=json).")
        json_type = {"Content-Type": "application/json;charset=utf-8"}
        element = self.element
        with self._lock:
            if method == "GET" and resource == element.entity:
                self.calls.append("query")
                return 200, _json({"d": {"results": self._query(query)}}), json_type
            if method == "POST" and resource == "upsert":
                if not headers.get("content-type", "").startswith("application/json"):
                    raise odata_error(415, "Content-Type must be application/json")
                self.calls.append("upsert")
                return 200, _json({"d": self._upsert(body)}), json_type
            if method == "DELETE" and resource.startswith(f"{element.entity}("):
                self.calls.append("delete")
                self._delete(resource.removeprefix(f"{element.entity}(").removesuffix(")"))
                return 204, b"", {}
        raise odata_error(
            404, f"Resource not found for the segment '{resource}'", "COE_RESOURCE_NOT_FOUND"
        )

    def _authorize(self, headers: Mapping[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        expiry = self.tokens.get(token) if scheme == "Bearer" else None
        if expiry is None or expiry <= time.time():
            raise odata_error(401, "Invalid or expired access token", "COE_AUTHENTICATION")

    def _query(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        terms: list[tuple[str, str]] = []
        if query.get("$filter"):
            for clause in re.split(r"\s+and\s+", query["$filter"]):
                match = FILTER_TERM.match(clause)
                if not match:
                    raise odata_error(400, f"Unsupported filter: {clause}")
                name, value = match.group(1), match.group(2).replace("''", "'")
                if name not in self.element.fields | {"userId", "backgroundElementId"}:
                    raise odata_error(400, f"Invalid property names: {name}")
                terms.append((name, value))
        found = [
            {
                "__metadata": {"uri": self._uri(entry), "type": f"SFOData.{self.element.entity}"},
                **entry,
                "backgroundElementId": str(entry["backgroundElementId"]),
            }
            for entry in self.element.entries.values()
            if all(str(entry.get(name)) == value for name, value in terms)
        ]
        top = query.get("$top")
        return found[: int(top)] if top else found

    def _uri(self, entry: Mapping[str, Any]) -> str:
        user = str(entry["userId"]).replace("'", "''")
        return (
            f"{self.url}/odata/v2/{self.element.entity}(backgroundElementId="
            f"{entry['backgroundElementId']}L,userId='{user}')"
        )

    def _upsert(self, body: bytes) -> list[dict[str, Any]]:
        try:
            payload = json.loads(body)
        except ValueError:
            raise odata_error(400, "Malformed JSON") from None
        records = payload if isinstance(payload, list) else [payload]
        return [self._upsert_one(index, record) for index, record in enumerate(records)]

    def _upsert_one(self, index: int, record: Any) -> dict[str, Any]:
        element = self.element

        def error(message: str) -> dict[str, Any]:
            return {
                "key": None,
                "status": "ERROR",
                "editStatus": None,
                "message": message,
                "index": index,
                "httpCode": 500,
                "inlineResults": None,
            }

        if not isinstance(record, dict):
            return error("Each record must be a JSON object")
        uri = (record.get("__metadata") or {}).get("uri", "")
        entity = uri.split("(", 1)[0].rsplit("/", 1)[-1]
        if entity != element.entity:
            return error(f"__metadata.uri must name {element.entity}, not {entity!r}")
        user = record.get("userId")
        if not isinstance(user, str) or user not in self.users:
            return error(f"Invalid user id: {user!r} does not exist")
        unknown = set(record) - element.fields - {"__metadata", "userId", "backgroundElementId"}
        if unknown:
            return error(f"Invalid property names: {', '.join(sorted(unknown))}")
        for name in element.dates & set(record):
            if record[name] is not None and not DATE_VALUE.match(str(record[name])):
                return error(f"{name}: {record[name]!r} is not an Edm.DateTime /Date(ms)/")
        key = record.get("backgroundElementId")
        if key is not None:
            current = element.entries.get(int(key))
            if current is None or current["userId"] != user:
                return error(f"No {element.entity} entry {key} for user {user}")
            missing = [n for n in element.required if n not in record and n not in current]
            merged = {**current, **{k: v for k, v in record.items() if k != "__metadata"}}
            edit, code = "UPDATED", 204
        else:
            missing = [n for n in element.required if record.get(n) in (None, "")]
            merged = {k: v for k, v in record.items() if k != "__metadata"}
            merged["backgroundElementId"] = next(self._ids)
            edit, code = "INSERTED", 201
        if missing:
            return error(f"Missing required fields: {', '.join(sorted(missing))}")
        merged["backgroundElementId"] = int(merged["backgroundElementId"])
        element.entries[merged["backgroundElementId"]] = merged
        key_text = (
            f"{element.entity}/backgroundElementId={merged['backgroundElementId']},"
            f"{element.entity}/userId={user}"
        )
        return {
            "key": key_text,
            "status": "OK",
            "editStatus": edit,
            "message": None,
            "index": index,
            "httpCode": code,
            "inlineResults": None,
        }

    def _delete(self, predicate: str) -> None:
        match = KEY_PREDICATE.match(predicate)
        if not match:
            raise odata_error(400, f"Malformed key predicate: {predicate}")
        element_id, user = int(match.group(1)), match.group(2).replace("''", "'")
        entry = self.element.entries.get(element_id)
        if entry is None or entry["userId"] != user:
            raise odata_error(404, "Entity not found", "COE_RESOURCE_NOT_FOUND")
        self.deleted.append(self.element.entries.pop(element_id))


def _instant(value: str | None) -> datetime:
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _json(payload: Any) -> bytes:
    return json.dumps(payload).encode()
