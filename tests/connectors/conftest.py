"""Real local targets for the connector tests: a Standard Webhooks receiver and an xAPI LRS.

Both listen on 127.0.0.1 only. The LRS is Learning Locker's ``xapi-statements`` (npm, in
``tests/lrs``), started once per test session; install it with
``npm ci --prefix tests/lrs --ignore-scripts``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from connectors.base import WITHDRAWING_EVENTS, AwardEvent
from connectors.testing import LocalServer, QuietHandler, RecordedRequest
from connectors.xapi.statements import AWARD_VERB, VOIDED_VERB, actor

LRS_DIR = Path(__file__).resolve().parents[1] / "lrs"
LRS_SERVER = LRS_DIR / "node_modules" / "xapi-statements" / "dist" / "server.js"
LRS_PRELOAD = LRS_DIR / "loopback.js"
ALLOW_SKIP_LRS_ENV = "MICROCRED_ALLOW_SKIP_LRS"
LRS_READER = ("microcred-test-reader", "any")  # the test auth repo accepts any credentials
XAPI_HEADERS = {"X-Experience-API-Version": "1.0.3"}


# -- Standard Webhooks receiver -------------------------------------------------------------


class WebhookReceiver:
    """An endpoint that does what a careful receiver does.

    It verifies each request with ``standardwebhooks.Webhook(secret).verify`` (any of its
    secrets may match), answers 401 to a bad signature, dedupes by ``webhook-id`` and
    stores each event once; pings are verified and acknowledged but not stored.
    """

    PATH = "/hooks/microcred"

    def __init__(self, secrets: Sequence[str]) -> None:
        self.verifiers = [Webhook(secret) for secret in secrets]
        self.events: dict[str, dict[str, Any]] = {}
        self.pings: list[dict[str, Any]] = []
        self.received: list[RecordedRequest] = []
        self.duplicates = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.read_body()
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver.accept(self.path, headers, body)
                self.reply(status)

        self._server = LocalServer(Handler)
        self.url = self._server.base_url + self.PATH

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        for verifier in self.verifiers:
            try:
                payload: dict[str, Any] = verifier.verify(body, dict(headers))
            except Exception:  # noqa: S112 - any failure means "not this secret"
                continue
            return payload
        return None

    def accept(self, path: str, headers: Mapping[str, str], body: bytes) -> int:
        with self._lock:
            self.received.append(RecordedRequest("POST", path, dict(headers), body))
        if path != self.PATH:
            return 404
        payload = self.verify(headers, body)
        if payload is None:
            return 401
        msg_id = headers["webhook-id"]
        with self._lock:
            if payload.get("type") == "microcred.ping":
                self.pings.append(payload)
            elif msg_id in self.events:
                self.duplicates += 1
            else:
                self.events[msg_id] = payload
        return 204

    def stored_count(self, event: AwardEvent) -> int:
        return 1 if event.idempotency_key in self.events else 0

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def webhook_receiver() -> Iterator[Callable[[Sequence[str]], WebhookReceiver]]:
    """Start receivers holding the given secrets; all are stopped after the test."""
    started: list[WebhookReceiver] = []

    def start(secrets: Sequence[str]) -> WebhookReceiver:
        receiver = WebhookReceiver(secrets)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()


# -- xAPI LRS -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lrs:
    """A running xapi-statements LRS (any credentials are accepted by its test auth repo)."""

    endpoint: str  # .../xAPI
    log: Path

    @property
    def url(self) -> str:
        return self.endpoint

    def get(self, **params: str) -> requests.Response:
        return requests.get(
            f"{self.endpoint}/statements",
            params=params,
            headers=XAPI_HEADERS,
            auth=LRS_READER,
            timeout=10,
        )

    def statements(self, agent: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every (non-voided) statement about ``agent``."""
        response = self.get(agent=json.dumps(agent), limit="0")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["statements"]
        return found

    def stored_count(self, event: AwardEvent) -> int:
        """Award statements (or, for a withdrawing event, voiding statements) of the learner."""
        verb = VOIDED_VERB if event.type in WITHDRAWING_EVENTS else AWARD_VERB
        return sum(
            1
            for statement in self.statements(actor(event, share_email=False))
            if statement["verb"]["id"] == verb["id"]
        )


def _lrs_unavailable(reason: str) -> None:
    message = (
        f"{reason}: run `npm ci --prefix tests/lrs --ignore-scripts` (Node 20) first, "
        f"or set {ALLOW_SKIP_LRS_ENV}=1 to skip the tests that need the real LRS"
    )
    if os.environ.get(ALLOW_SKIP_LRS_ENV) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def lrs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lrs]:
    """Learning Locker's xapi-statements on a free 127.0.0.1 port, for the whole session."""
    from tests.support.lrs import LrsUnavailable, private_lrs  # it imports this module

    if shutil.which("node") is None:
        _lrs_unavailable("node is not on PATH")
    if not LRS_SERVER.is_file():
        _lrs_unavailable("tests/lrs/node_modules is missing")
    running = private_lrs(tmp_path_factory.mktemp("lrs"))
    try:
        server = running.__enter__()
    except LrsUnavailable as exc:
        pytest.fail(f"the test LRS did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        running.__exit__(None, None, None)
