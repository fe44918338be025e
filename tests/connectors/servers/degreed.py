"""A local Degreed API v2 that enforces the documented contract (127.0.0.1 only).

What it enforces, from developer.degreed.com (prose: Degreed publishes no OpenAPI file):

* ``POST /oauth/token``: form-encoded ``grant_type=client_credentials``, ``client_id``,
  ``client_secret``, comma-delimited ``scope`` (each one granted to the key); answers
  ``access_token``, ``token_type: bearer``, ``expires_in``; ``invalid_client`` otherwise.
* ``/api/v2/...``: ``Authorization: Bearer`` with a live token (401), the scope the endpoint
  needs (403), JSON bodies (415), the JSON:API envelope and required attributes (400).
* Rate limit: a sliding 60 s window per ``client_id`` (200 by default); beyond it 429 with
  ``Retry-After``; every API answer carries ``X-Rate-Limit-Limit/-Remaining/-Reset``.
* State: content by external id (409 on a duplicate external id), users by email and
  employee id, completions (duplicates are *accepted*, as nothing in Degreed's docs says they
  are refused: avoiding them is the client's job) and deletions.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from connectors.base import WITHDRAWING_EVENTS, AwardEvent
from connectors.degreed import content_external_id
from connectors.testing import LocalServer, QuietHandler, RecordedRequest

SCOPES = frozenset(
    {"content:read", "content:write", "completions:read", "completions:write", "users:read"}
)
CONTENT_PATHS = {
    "courses": "Course",
    "articles": "Article",
    "books": "Book",
    "videos": "Video",
    "events": "Event",
    "assessments": "Assessment",
    "podcasts": "Podcast",
}
IDENTIFIER_TYPES = frozenset({"Email", "EmployeeId"})
CONTENT_ID_TYPES = frozenset({"Id", "ExternalId", "ContentUrl"})
TOKEN_LIFETIME = 5183999  # what Degreed's docs show


class Problem(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


@dataclass
class User:
    id: str
    email: str
    employee_id: str | None


@dataclass
class Completion:
    id: str
    user_id: str
    content_id: str
    attributes: dict[str, Any]


@dataclass
class ApiKey:
    client_id: str
    client_secret: str
    scopes: frozenset[str] = SCOPES


@dataclass
class State:
    keys: dict[str, ApiKey] = field(default_factory=dict)
    tokens: dict[str, tuple[str, frozenset[str], float]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    content: dict[str, dict[str, Any]] = field(default_factory=dict)  # by Degreed id
    completions: dict[str, Completion] = field(default_factory=dict)
    deleted: list[Completion] = field(default_factory=list)
    windows: dict[str, deque[float]] = field(default_factory=dict)


class DegreedServer:
    """The contract server; ``url`` is both the API base and the token host."""

    def __init__(self, *, rate_limit: int = 200, window: float = 60.0) -> None:
        self.rate_limit = rate_limit
        self.window = window
        self.state = State()
        self.requests: list[RecordedRequest] = []
        self.statuses: list[int] = []
        self._lock = threading.RLock()
        server = self

        class Handler(QuietHandler):
            def handle_any(self) -> None:
                server._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        self._server = LocalServer(Handler)
        self.url = self._server.base_url
        self.token_url = f"{self.url}/oauth/token"

    def close(self) -> None:
        self._server.close()

    # -- test set-up and assertions ---------------------------------------------------------

    def add_key(self, client_id: str, client_secret: str, scopes: frozenset[str] = SCOPES) -> None:
        with self._lock:
            self.state.keys[client_id] = ApiKey(client_id, client_secret, scopes)

    def add_user(self, email: str, employee_id: str | None = None) -> User:
        with self._lock:
            user = User(f"u{secrets.token_hex(6)}", email, employee_id)
            self.state.users[user.id] = user
            return user

    def expire_tokens(self) -> None:
        with self._lock:
            self.state.tokens.clear()

    def user_by_email(self, email: str) -> User | None:
        return next((u for u in self.state.users.values() if u.email == email), None)

    def content_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        return next(
            (c for c in self.state.content.values() if c["external-id"] == external_id), None
        )

    def completions_of(self, event: AwardEvent, *, deleted: bool = False) -> list[Completion]:
        user = self.user_by_email(event.learner.email or "")
        content = self.content_by_external_id(content_external_id(event.achievement))
        if user is None or content is None:
            return []
        pool = self.state.deleted if deleted else list(self.state.completions.values())
        return [c for c in pool if c.user_id == user.id and c.content_id == content["id"]]

    def stored_count(self, event: AwardEvent) -> int:
        """Live completions of the award's learner and achievement (deletions if withdrawn)."""
        with self._lock:
            return len(self.completions_of(event, deleted=event.type in WITHDRAWING_EVENTS))

    @property
    def throttled(self) -> int:
        return self.statuses.count(429)

    # -- HTTP -------------------------------------------------------------------------------

    def _handle(self, handler: QuietHandler) -> None:
        body = handler.read_body()
        headers = {name.lower(): value for name, value in handler.headers.items()}
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, handler.path, headers, body))
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        extra: dict[str, str] = {}
        payload: dict[str, Any] | None
        try:
            with self._lock:
                if parts.path == "/oauth/token":
                    status, payload = self._token(handler.command, headers, body)
                else:
                    client = self._authenticate(headers)
                    extra = self._count(client)
                    status, payload = self._api(handler.command, parts.path, query, headers, body)
        except Problem as problem:
            status = problem.status
            payload = {"errors": [{"status": str(status), "detail": problem.detail}]}
            extra.update(problem.headers)
        with self._lock:
            self.statuses.append(status)
        data = b"" if payload is None else json.dumps(payload).encode()
        reply_headers = {"Content-Type": "application/json", **extra} if data else extra
        handler.reply(status, data, reply_headers)

    # -- OAuth ------------------------------------------------------------------------------

    def _token(
        self, method: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        if method != "POST":
            raise Problem(405, "POST the token request")
        if headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            raise Problem(415, "the token request must be form-encoded")
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        key = self.state.keys.get(form.get("client_id", ""))
        if key is None or not secrets.compare_digest(
            key.client_secret, form.get("client_secret", "")
        ):
            return 401, {"error": "invalid_client"}
        requested = frozenset(s.strip() for s in form.get("scope", "").split(",") if s.strip())
        if not requested or not requested <= key.scopes:
            return 400, {"error": "invalid_scope"}
        token = secrets.token_urlsafe(24)
        self.state.tokens[token] = (key.client_id, requested, time.time() + TOKEN_LIFETIME)
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": TOKEN_LIFETIME,
            "refresh_token": secrets.token_urlsafe(24),
        }

    def _authenticate(self, headers: dict[str, str]) -> str:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        grant = self.state.tokens.get(token) if scheme.lower() == "bearer" else None
        if grant is None or grant[2] < time.time():
            raise Problem(401, "missing, unknown or expired bearer token")
        self._scopes = grant[1]
        return grant[0]

    def _need(self, scope: str) -> None:
        if scope not in self._scopes:
            raise Problem(403, f"the token lacks the {scope} scope")

    def _count(self, client: str) -> dict[str, str]:
        now = time.monotonic()
        sent = self.state.windows.setdefault(client, deque())
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        reset_in = (sent[0] + self.window - now) if sent else self.window
        reset = (datetime.now(UTC) + timedelta(seconds=reset_in)).isoformat()
        reset = reset.replace("+00:00", "Z")
        if len(sent) >= self.rate_limit:
            raise Problem(
                429,
                "Too Many Requests",
                {
                    "Retry-After": str(max(1, int(reset_in + 0.999))),
                    "X-Rate-Limit-Limit": "1m",
                    "X-Rate-Limit-Remaining": "0",
                    "X-Rate-Limit-Reset": reset,
                },
            )
        sent.append(now)
        return {
            "X-Rate-Limit-Limit": "1m",
            "X-Rate-Limit-Remaining": str(self.rate_limit - len(sent)),
            "X-Rate-Limit-Reset": reset,
        }

    # -- API --------------------------------------------------------------------------------

    def _api(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, dict[str, Any] | None]:
        segments = [unquote(s) for s in path.strip("/").split("/")]
        if segments[:2] != ["api", "v2"]:
            raise Problem(404, "not found")
        rest = segments[2:]
        if method == "GET" and rest == ["content"]:
            self._need("content:read")
            wanted = query.get("filter[external_id]")
            found = [c for c in self.state.content.values() if wanted in (None, c["external-id"])]
            return 200, {"data": [_resource("content", c["id"], c) for c in found]}
        if method == "POST" and len(rest) == 2 and rest[0] == "content":
            self._need("content:write")
            return self._create_content(rest[1], self._json(headers, body))
        if method == "GET" and rest == ["completions"]:
            self._need("completions:read")
            limit = int(query.get("limit", "100"))
            items = list(self.state.completions.values())[:limit]
            return 200, {"data": [_resource("completions", c.id, c.attributes) for c in items]}
        if method == "GET" and len(rest) == 3 and rest[0] == "users" and rest[2] == "completions":
            self._need("completions:read")
            user = self._find_user(rest[1], query.get("identifier", "Id"))
            wanted = query.get("filter[content_id]")
            items = [
                c
                for c in self.state.completions.values()
                if c.user_id == user.id and wanted in (None, c.content_id)
            ]
            return 200, {"data": [_resource("completions", c.id, c.attributes) for c in items]}
        if method == "POST" and rest == ["completions"]:
            self._need("completions:write")
            return self._create_completion(self._json(headers, body))
        if method == "DELETE" and len(rest) == 2 and rest[0] == "completions":
            self._need("completions:write")
            completion = self.state.completions.pop(rest[1], None)
            if completion is None:
                raise Problem(404, "no such completion")
            self.state.deleted.append(completion)
            return 204, None
        raise Problem(404, f"no route {method} {path}")

    @staticmethod
    def _json(headers: dict[str, str], body: bytes) -> dict[str, Any]:
        if headers.get("content-type", "").split(";")[0] != "application/json":
            raise Problem(415, "send application/json")
        try:
            document = json.loads(body)
        except ValueError:
            raise Problem(400, "malformed JSON") from None
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("attributes"), dict):
            raise Problem(400, "expected a JSON:API document: {data: {type, attributes}}")
        return data

    def _find_user(self, value: str, identifier: str) -> User:
        for user in self.state.users.values():
            if (
                (identifier == "Email" and user.email.lower() == value.lower())
                or (identifier == "EmployeeId" and user.employee_id == value)
                or (identifier == "Id" and user.id == value)
            ):
                return user
        raise Problem(404, "user not found")

    def _create_content(self, kind: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if kind not in CONTENT_PATHS:
            raise Problem(404, f"unknown content type {kind}")
        if data.get("type") != kind:
            raise Problem(400, f"data.type must be {kind!r}")
        attributes = data["attributes"]
        for name in ("external-id", "title", "url"):
            if not isinstance(attributes.get(name), str) or not attributes[name]:
                raise Problem(400, f"attributes.{name} is required")
        if self.content_by_external_id(attributes["external-id"]) is not None:
            raise Problem(409, "content with this external-id exists")
        content_id = f"c{secrets.token_hex(6)}"
        record = {**attributes, "id": content_id, "content-type": CONTENT_PATHS[kind]}
        self.state.content[content_id] = record
        return 201, {"data": _resource(kind, content_id, record)}

    def _create_completion(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if data.get("type") != "completions":
            raise Problem(400, "data.type must be 'completions'")
        a = data["attributes"]
        required = ("user-id", "user-identifier-type", "content-id", "content-id-type")
        for name in required:
            if not isinstance(a.get(name), str) or not a[name]:
                raise Problem(400, f"attributes.{name} is required")
        if a["user-identifier-type"] not in IDENTIFIER_TYPES:
            raise Problem(400, "user-identifier-type must be Email or EmployeeId")
        if a["content-id-type"] not in CONTENT_ID_TYPES:
            raise Problem(400, "content-id-type must be Id, ExternalId or ContentUrl")
        if "is-verified" in a and not isinstance(a["is-verified"], bool):
            raise Problem(400, "is-verified must be a boolean")
        completed = a.get("completed-at")
        try:
            moment = datetime.fromisoformat(str(completed).replace("Z", "+00:00"))
        except ValueError:
            raise Problem(400, "completed-at must be an ISO 8601 date-time") from None
        if moment.tzinfo is not None and moment > datetime.now(UTC) + timedelta(minutes=5):
            raise Problem(400, "completed-at is in the future")
        user = self._find_user(a["user-id"], a["user-identifier-type"])
        content = self.state.content.get(a["content-id"]) if a["content-id-type"] == "Id" else None
        if content is None:
            raise Problem(400, "content not found")
        if a.get("content-type") not in (None, content["content-type"]):
            raise Problem(400, "content-type does not match the content")
        completion = Completion(
            f"k{secrets.token_hex(6)}",
            user.id,
            content["id"],
            {**a, "content-id": content["id"], "user-id": user.id},
        )
        self.state.completions[completion.id] = completion
        return 201, {"data": _resource("completions", completion.id, completion.attributes)}


def _resource(kind: str, ident: str, attributes: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in attributes.items() if k != "id"}
    return {"type": kind, "id": ident, "attributes": shown}
