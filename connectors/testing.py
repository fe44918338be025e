"""The contract test every connector's test module inherits, and the tools it runs on.

Usage, in ``tests/.../test_<key>_connector.py``::

    class TestMyConnector(ConnectorContract):
        connector_class = MyConnector

        @pytest.fixture
        def target(self) -> Iterator[ContractTarget]:
            ...  # a real local server (or the real product on loopback)

        def make_connector(self, url, session, *, timeout):
            return MyConnector({"url": url, "timeout": timeout}, {"token": "t"}, session)

``target`` is the system under test: ``target.url`` is what ``make_connector`` receives
(through a :class:`FaultProxy`, which forwards to it unless told to fail) and
``target.stored_count(event)`` counts the records the target holds for ``event``. Optional
hooks: ``make_event`` (the award events used) and ``invalid_event`` (an event the real
target refuses with a 4xx validation error; without it the proxy answers 422).

pytest is needed to use this module; it is a test helper, not part of the runtime.
"""

from __future__ import annotations

import dataclasses
import email.utils
import http.client
import os
import socket
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from connectors.base import (
    Achievement,
    Alignment,
    AwardEvent,
    AwardStatus,
    Connector,
    EventType,
    Learner,
    Outcome,
    Result,
    deliver,
)
from connectors.registry import ENTRY_POINT_GROUP, Registry, RegistryError

LOOPBACK = "127.0.0.1"
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
        "server",
        "date",
    }
)
REQUIRE_ENTRY_POINTS_ENV = "MICROCRED_REQUIRE_ENTRY_POINTS"


class ContractWarning(UserWarning):
    """A contract check that could only be done partly (see the message)."""


# -- sample data ----------------------------------------------------------------------------


STATUS_AFTER = {
    EventType.REVOKED: AwardStatus.REVOKED,
    EventType.SUSPENDED: AwardStatus.SUSPENDED,
    EventType.EXPIRED: AwardStatus.EXPIRED,
}


def sample_event(**changes: Any) -> AwardEvent:
    """A fresh ``credential.awarded`` event with its own learner, award and keys."""
    token = uuid.uuid4().hex
    now = datetime.now(UTC).replace(microsecond=0)
    values: dict[str, Any] = {
        "event_id": f"evt_{token}",
        "type": EventType.AWARDED,
        "idempotency_key": f"dlv_{token}",
        "sequence": 1,
        "award_id": f"awd_{token}",
        "status": AwardStatus.ACTIVE,
        "issued_at": now,
        "occurred_at": now,
        "learner": Learner(
            platform_issuer="https://lms.example.edu",
            sub=f"learner-{token}",
            name="Ada Lovelace",
            email=f"ada-{token[:8]}@example.edu",
            hr_ids={"employee_id": f"E{token[:6]}"},
        ),
        "achievement": Achievement(
            id="https://badges.example.edu/achievements/data-literacy-1",
            name="Data Literacy I",
            description="Reads, cleans and charts a small data set.",
            criteria_narrative="Pass the course project with 80% or more.",
            criteria_url="https://badges.example.edu/achievements/data-literacy-1/criteria",
            image_url="https://badges.example.edu/achievements/data-literacy-1/image.png",
            alignments=(
                Alignment(
                    target_name="Data literacy",
                    target_url="https://skills.example.org/data-literacy",
                    target_framework="Example Skills",
                    target_code="DL-1",
                ),
            ),
            tags=("data", "analytics"),
        ),
        "verification_url": f"https://badges.example.edu/verify/awd_{token}",
        "expires_at": now + timedelta(days=730),
        "credential": {
            "@context": [
                "https://www.w3.org/ns/credentials/v2",
                "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
            ],
            "id": f"urn:uuid:{uuid.uuid4()}",
            "type": ["VerifiableCredential", "AchievementCredential"],
        },
    }
    values.update(changes)
    return AwardEvent(**values)


def follow_up(event: AwardEvent, kind: EventType, **changes: Any) -> AwardEvent:
    """The next event of the same award (new event id and key, sequence + 1)."""
    token = uuid.uuid4().hex
    values: dict[str, Any] = {
        "event_id": f"evt_{token}",
        "type": kind,
        "idempotency_key": f"dlv_{token}",
        "sequence": event.sequence + 1,
        "status": STATUS_AFTER.get(kind, AwardStatus.ACTIVE),
        "occurred_at": datetime.now(UTC).replace(microsecond=0),
    }
    values.update(changes)
    return dataclasses.replace(event, **values)


# -- local servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def with_origin(url: str, host: str, port: int) -> str:
    """``url`` with its scheme/host/port replaced, path and query kept."""
    parts = urlsplit(url)
    return urlunsplit(("http", f"{host}:{port}", parts.path, parts.query, ""))


def down_url(url: str) -> str:
    """``url`` moved to a loopback port where nothing listens."""
    return with_origin(url, LOOPBACK, free_port())


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 (an ephemeral port) running in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler that reads the body and keeps test output clean."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(
        self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


@dataclass
class Fault:
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: float = 0.0  # hold the request this long (or until close), then drop it
    echo: bool = False  # answer ``status`` with the request's headers and body as the body


class FaultProxy:
    """A loopback HTTP proxy in front of a target that can be told to misbehave.

    By default it forwards every request to ``upstream`` and relays the answer. Queued faults
    replace the next requests' answers: an HTTP status, a hang (for timeouts), or an echo of
    the request (to prove connectors scrub secrets). ``requests`` records what arrived;
    ``drop_headers`` removes request headers before forwarding.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("FaultProxy forwards to plain-HTTP loopback targets only")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.requests: list[RecordedRequest] = []
        self.drop_headers: set[str] = set()
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        proxy = self

        class Handler(QuietHandler):
            def handle_one(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_one

        self._server = LocalServer(Handler)
        self.url = with_origin(upstream, LOOPBACK, self._server.port)

    def fail_next(
        self,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        times: int = 1,
    ) -> None:
        self._queue(Fault(status=status, headers=dict(headers or {}), body=body), times)

    def hang_next(self, seconds: float = 5.0, *, times: int = 1) -> None:
        self._queue(Fault(hang=seconds), times)

    def echo_next(self, status: int = 400, *, times: int = 1) -> None:
        self._queue(Fault(status=status, echo=True), times)

    def _queue(self, fault: Fault, times: int) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    def close(self) -> None:
        self._release.set()
        self._server.close()

    def _handle(self, handler: QuietHandler) -> None:
        body = handler.read_body()
        headers = {name.lower(): value for name, value in handler.headers.items()}
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, handler.path, headers, body))
            fault = self._faults.popleft() if self._faults else None
        if fault is None:
            self._forward(handler, headers, body)
        elif fault.hang:
            self._release.wait(fault.hang)
            handler.close_connection = True
        elif fault.echo:
            lines = [f"{name}: {value}" for name, value in headers.items()]
            echoed = "\n".join(lines).encode() + b"\n\n" + body
            handler.reply(fault.status, echoed, {"Content-Type": "text/plain"})
        else:
            handler.reply(fault.status, fault.body, fault.headers)

    def _forward(self, handler: QuietHandler, headers: Mapping[str, str], body: bytes) -> None:
        outgoing = {
            name: value
            for name, value in headers.items()
            if name not in HOP_BY_HOP and name not in self.drop_headers
        }
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            connection.request(handler.command, handler.path, body=body or None, headers=outgoing)
            response = connection.getresponse()
            payload = response.read()
            relayed = {
                name: value
                for name, value in response.getheaders()
                if name.lower() not in HOP_BY_HOP
            }
            handler.reply(response.status, payload, relayed)
        except OSError as exc:
            handler.reply(502, f"proxy: upstream failed: {exc}".encode())
        finally:
            connection.close()


# -- the contract ---------------------------------------------------------------------------


class ContractTarget(Protocol):
    """The real system a connector delivers to, as the contract test sees it."""

    @property
    def url(self) -> str: ...

    def stored_count(self, event: AwardEvent) -> int:
        """How many records the target holds for ``event`` (by its idempotency key/award)."""
        ...


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


class ConnectorContract:
    """Inherit it in a ``Test...`` class; see the module docstring for the hooks."""

    connector_class: ClassVar[type[Connector]]
    #: seconds; generous for the healthy path, the timeout test uses ``short_timeout``
    timeout: ClassVar[float] = 5.0
    short_timeout: ClassVar[float] = 0.3

    # -- hooks ------------------------------------------------------------------------------

    @pytest.fixture
    def target(self) -> ContractTarget:
        raise NotImplementedError("a ConnectorContract subclass must define a `target` fixture")

    def make_connector(self, url: str, session: requests.Session, *, timeout: float) -> Connector:
        raise NotImplementedError("a ConnectorContract subclass must define make_connector()")

    def make_event(self, **changes: Any) -> AwardEvent:
        return sample_event(**changes)

    def invalid_event(self) -> AwardEvent | None:
        """An event the real target refuses with a 4xx validation error, if one exists."""
        return None

    # -- fixtures ---------------------------------------------------------------------------

    @pytest.fixture
    def session(self) -> Iterator[requests.Session]:
        with requests.Session() as session:
            yield session

    @pytest.fixture
    def proxy(self, target: ContractTarget) -> Iterator[FaultProxy]:
        proxy = FaultProxy(target.url)
        yield proxy
        proxy.close()

    @pytest.fixture
    def connector(self, proxy: FaultProxy, session: requests.Session) -> Connector:
        return self.make_connector(proxy.url, session, timeout=self.timeout)

    def _award_delivered(self, connector: Connector) -> tuple[AwardEvent, Result]:
        award = self.make_event()
        result = connector.push(award)
        assert result.outcome is Outcome.DELIVERED, result
        return award, result

    # -- identity ---------------------------------------------------------------------------

    def test_key_matches_entry_point(self) -> None:
        cls = self.connector_class
        registry = Registry()
        if cls.key in registry.entry_points():
            assert registry.get(cls.key) is cls, registry.source(cls.key)
        else:
            message = (
                f"no {ENTRY_POINT_GROUP!r} entry point named {cls.key!r} is installed; only "
                "in-process registration was checked (declare it in pyproject.toml and "
                "reinstall)"
            )
            if os.environ.get(REQUIRE_ENTRY_POINTS_ENV) == "1":
                pytest.fail(message)
            warnings.warn(message, ContractWarning, stacklevel=1)
            local = Registry(discover=False)
            local.register(cls, name=cls.key)
            assert local.get(cls.key) is cls
        with pytest.raises(RegistryError, match="must equal the entry-point name"):
            Registry(discover=False).register(cls, name=f"{cls.key}_renamed")

    def test_declares_its_contract(self, connector: Connector) -> None:
        cls = self.connector_class
        assert cls.capabilities, "a connector must deliver at least one event type"
        assert isinstance(connector.settings, Mapping)
        shown = repr(connector)
        for secret in connector.secret_values:
            assert secret not in shown

    # -- check ------------------------------------------------------------------------------

    def test_check_succeeds_against_the_target(self, connector: Connector) -> None:
        result = connector.check()
        assert result.outcome is Outcome.DELIVERED, result

    def test_check_fails_clearly_when_the_target_is_down(
        self, target: ContractTarget, session: requests.Session
    ) -> None:
        connector = self.make_connector(down_url(target.url), session, timeout=self.timeout)
        result = connector.check()
        assert result.outcome is Outcome.RETRY
        assert "could not connect" in result.detail

    def test_check_reports_refused_credentials(
        self, connector: Connector, proxy: FaultProxy
    ) -> None:
        proxy.fail_next(401, body=b'{"error": "bad credentials"}')
        result = connector.check()
        assert result.outcome is Outcome.UNAUTHORIZED
        assert result.status_code == 401

    # -- delivery ---------------------------------------------------------------------------

    def test_repeated_push_creates_no_duplicate(
        self, connector: Connector, target: ContractTarget
    ) -> None:
        award, first = self._award_delivered(connector)
        assert target.stored_count(award) == 1
        again = connector.push(award)
        assert again.outcome is Outcome.DELIVERED, again
        assert again.external_id == first.external_id
        assert target.stored_count(award) == 1

    def test_repeated_revoke_creates_no_duplicate(
        self, connector: Connector, target: ContractTarget
    ) -> None:
        if str(EventType.REVOKED) not in self.connector_class.capabilities:
            pytest.skip("this connector does not deliver revocations")
        award, delivered = self._award_delivered(connector)
        revocation = follow_up(award, EventType.REVOKED, external_id=delivered.external_id)
        for _ in range(2):
            result = connector.revoke(revocation)
            assert result.outcome is Outcome.DELIVERED, result
        assert target.stored_count(revocation) == 1

    def test_events_reach_the_right_entry_point(self, connector: Connector) -> None:
        award = self.make_event()
        revocation = follow_up(award, EventType.REVOKED, external_id="x")
        assert connector.revoke(award).outcome is Outcome.REJECTED
        assert connector.push(revocation).outcome is Outcome.REJECTED
        assert deliver(connector, award).outcome is Outcome.DELIVERED

    @pytest.mark.parametrize("status", [401, 403])
    def test_refused_credentials_are_unauthorized(
        self, connector: Connector, proxy: FaultProxy, target: ContractTarget, status: int
    ) -> None:
        award = self.make_event()
        proxy.fail_next(status)
        result = connector.push(award)
        assert result.outcome is Outcome.UNAUTHORIZED
        assert result.status_code == status
        assert target.stored_count(award) == 0

    @pytest.mark.parametrize(
        ("status", "retry_after", "expected"),
        [
            (429, "7", 7.0),
            (503, "date:120", 120.0),
            (500, None, None),
            (502, None, None),
            (408, None, None),
        ],
    )
    def test_transient_failures_are_retried(
        self,
        connector: Connector,
        proxy: FaultProxy,
        target: ContractTarget,
        status: int,
        retry_after: str | None,
        expected: float | None,
    ) -> None:
        award = self.make_event()
        headers = {}
        if retry_after is not None:
            value = retry_after
            if value.startswith("date:"):
                value = http_date(float(value.removeprefix("date:")))
            headers["Retry-After"] = value
        proxy.fail_next(status, headers=headers, body=b"try later")
        result = connector.push(award)
        assert result.outcome is Outcome.RETRY
        assert result.status_code == status
        if expected is None:
            assert result.retry_after is None
        else:
            assert result.retry_after == pytest.approx(expected, abs=3)
        assert target.stored_count(award) == 0
        assert connector.push(award).outcome is Outcome.DELIVERED  # the retry then succeeds
        assert target.stored_count(award) == 1

    def test_timeout_is_retried(
        self, proxy: FaultProxy, session: requests.Session, target: ContractTarget
    ) -> None:
        connector = self.make_connector(proxy.url, session, timeout=self.short_timeout)
        proxy.hang_next(seconds=5)
        started = time.monotonic()
        result = connector.push(self.make_event())
        elapsed = time.monotonic() - started
        assert result.outcome is Outcome.RETRY
        assert "timed out" in result.detail
        assert elapsed < self.short_timeout + 2, "the connector must honour its timeout"

    def test_down_target_is_retried(
        self, target: ContractTarget, session: requests.Session
    ) -> None:
        connector = self.make_connector(down_url(target.url), session, timeout=self.timeout)
        result = connector.push(self.make_event())
        assert result.outcome is Outcome.RETRY
        assert "could not connect" in result.detail

    def test_validation_errors_are_rejected(
        self, connector: Connector, proxy: FaultProxy, target: ContractTarget
    ) -> None:
        event = self.invalid_event()
        if event is None:
            event = self.make_event()
            proxy.fail_next(422, body=b'{"errors": {"data": ["invalid"]}}')
        result = connector.push(event)
        assert result.outcome is Outcome.REJECTED, result
        assert result.status_code is not None
        assert 400 <= result.status_code < 500
        assert target.stored_count(event) == 0

    def test_redirects_are_not_followed(
        self, connector: Connector, proxy: FaultProxy, target: ContractTarget
    ) -> None:
        award = self.make_event()
        proxy.fail_next(301, headers={"Location": target.url})
        result = connector.push(award)
        assert result.outcome is Outcome.RETRY
        assert "redirect" in result.detail
        assert len(proxy.requests) == 1
        assert target.stored_count(award) == 0

    def test_details_never_carry_secrets(self, connector: Connector, proxy: FaultProxy) -> None:
        proxy.echo_next(400)
        result = connector.push(self.make_event())
        assert result.outcome is Outcome.REJECTED
        sent = proxy.requests[-1].headers
        leaks = [*connector.secret_values]
        if "authorization" in sent:
            leaks.append(sent["authorization"].split(" ", 1)[-1])
        assert leaks, "the connector holds no secrets to check"
        for secret in leaks:
            assert secret not in result.detail
