"""Fixtures for the sync tests: a faulty-on-demand Standard Webhooks receiver, a tenant with
learners and an achievement, connections to the receiver, and an engine with a fast clock.

Every test here runs on SQLite and, with MICROCRED_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import base64
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from connectors.testing import LocalServer, QuietHandler
from lti_tool.credentials import awards, issuance
from lti_tool.db import Database
from lti_tool.models import Achievement, Award, Delivery, Platform, User
from lti_tool.models.sync import DEAD, DELIVERED
from lti_tool.secretbox import SecretBox
from lti_tool.settings import Settings, load_settings
from lti_tool.sync import install, uninstall
from lti_tool.sync.connections import add_connection
from lti_tool.sync.engine import Engine, build_engine
from tests.conftest import SECRET_KEY, TOOL_URL
from tests.credentials.conftest import make_achievement, make_platform, make_user


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgres: needs a PostgreSQL server (deselected on the SQLite pass)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only fault tests are deselected (not skipped) when the suite runs on
    SQLite: the PostgreSQL pass (MICROCRED_TEST_DATABASE_URL=postgresql://...) runs them."""
    url = os.environ.get("MICROCRED_TEST_DATABASE_URL", "")
    if url.startswith(("postgresql", "postgres:")):
        return
    dropped = [item for item in items if item.get_closest_marker("postgres")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]


SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
FINAL = (DELIVERED, DEAD)


@dataclass
class Applied:
    msg_id: str
    type: str
    award_id: str
    sequence: int


@dataclass
class Receiver:
    """A Standard Webhooks endpoint that verifies, dedupes by webhook-id and applies once.

    Faults: ``mode`` "ok" | "drop" (close without answering: the endpoint is down) |
    a status code to answer every request with; ``fail_ratio`` answers 500 to that share of
    requests (seeded); ``hang_first`` applies the first event and then holds the request
    until ``release`` is set (the answer never reaches the sender); ``delay`` slows every
    request down. ``concurrent`` counts requests that arrived while another request with the
    same webhook-id was still being handled.
    """

    secrets: list[str]
    mode: str | int = "ok"
    fail_ratio: float = 0.0
    hang_first: bool = False
    delay: float = 0.0
    applied: list[Applied] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)  # the payloads applied
    seen: list[str] = field(default_factory=list)
    duplicates: int = 0
    concurrent: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    first_arrived: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(20)
        self._in_progress: dict[str, int] = {}
        self._hung = False
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.read_body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.handle(headers, body)
                if status == 0:
                    self.close_connection = True
                    return
                self.reply(status)

        self._server = LocalServer(Handler)
        self.url = self._server.base_url + "/hooks"

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        msg_id = headers.get("webhook-id", "")
        with self._lock:
            self.seen.append(msg_id)
            if self._in_progress.get(msg_id):
                self.concurrent += 1
            self._in_progress[msg_id] = self._in_progress.get(msg_id, 0) + 1
        try:
            return self._handle(msg_id, headers, body)
        finally:
            with self._lock:
                self._in_progress[msg_id] -= 1

    def _handle(self, msg_id: str, headers: dict[str, str], body: bytes) -> int:
        if self.delay:
            time.sleep(self.delay)
        if self.mode == "drop":
            return 0
        if isinstance(self.mode, int):
            return self.mode
        payload = None
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
                break
            except Exception:  # noqa: S112 - any failure means "not this secret"
                continue
        if payload is None:
            return 401
        with self._lock:
            if self.fail_ratio and self._rng.random() < self.fail_ratio:
                return 500
            hang = self.hang_first and not self._hung
            self._hung = self._hung or hang
            if any(a.msg_id == msg_id for a in self.applied):
                self.duplicates += 1
            elif payload.get("type") != "microcred.ping":
                data = payload["data"]
                self.applied.append(
                    Applied(msg_id, payload["type"], data["award_id"], data["sequence"])
                )
                self.bodies.append(payload)
        if hang:
            self.first_arrived.set()
            self.release.wait(30)
            return 0
        return 204

    def close(self) -> None:
        self.release.set()
        self._server.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([SECRET])
    yield r
    r.close()


@pytest.fixture
def sync_settings(database: Database, tmp_path: Path) -> Settings:
    return load_settings(
        {},
        database_url=database.url,
        public_url=TOOL_URL,
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
        sync_delay_scale=1e-5,  # the whole schedule (~27.6 h) takes ~1 s
        sync_lease_seconds=10,
        sync_poll_interval=0.05,
    )


@pytest.fixture
def issuer(sync_settings: Settings) -> Iterator[issuance.CredentialIssuer]:
    """Every award made in the test gets its signed OB 3.0 credential (as in the app)."""
    before = issuance.installed()
    config = issuance.IssuanceConfig(
        public_url=sync_settings.public_url, box=SecretBox(sync_settings.secret_key)
    )
    yield issuance.install(issuance.CredentialIssuer(config))
    if before is not None:
        issuance.install(before)
    else:
        awards.award_listeners[:] = [
            x for x in awards.award_listeners if not isinstance(x, issuance.CredentialIssuer)
        ]


@pytest.fixture
def outbox() -> Iterator[None]:
    install()
    yield
    uninstall()


@pytest.fixture
def engine(database: Database, sync_settings: Settings, outbox: None) -> Engine:
    return build_engine(database, sync_settings, rng=random.Random(7))


@dataclass
class World:
    database: Database
    settings: Settings
    platform_id: int
    achievement_id: int
    learner_ids: list[int]

    def connect(self, url: str, name: str = "hooks", **options: Any) -> int:
        box = SecretBox(self.settings.secret_key)
        secrets = {"secrets": [options.pop("secret", SECRET)]}
        with self.database.session() as session:
            connection = add_connection(
                session,
                box,
                platform_id=self.platform_id,
                connector="webhook",
                name=name,
                settings={"url": url, "timeout": options.pop("timeout", 5.0)},
                secrets=secrets,
                **options,
            )
            return connection.id

    def award(self, n: int = 1, *, revoke: bool = False) -> list[int]:
        """Award the achievement to the first ``n`` learners (and revoke it), one commit."""
        ids = []
        with self.database.session() as session:
            achievement = session.get_one(Achievement, self.achievement_id)
            for user_id in self.learner_ids[:n]:
                made, _ = awards.award(
                    session,
                    achievement,
                    session.get_one(User, user_id),
                    source="manual",
                    actor="admin:test",
                )
                if revoke:
                    awards.revoke(session, made, reason="issued in error", actor="admin:test")
                ids.append(made.id)
        return ids

    def deliveries(self) -> list[Delivery]:
        with self.database.read_session() as session:
            rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
            session.expunge_all()
            return rows

    def count(self, *statuses: str) -> int:
        with self.database.read_session() as session:
            query = select(func.count()).select_from(Delivery)
            if statuses:
                query = query.where(Delivery.status.in_(statuses))
            return int(session.scalar(query) or 0)

    def award_count(self) -> int:
        with self.database.read_session() as session:
            return int(session.scalar(select(func.count()).select_from(Award)) or 0)


@pytest.fixture
def make_world(database: Database, sync_settings: Settings) -> Callable[[int], World]:
    def build(learners: int = 3) -> World:
        with database.session() as session:
            platform: Platform = make_platform(session, 1)
            achievement = make_achievement(session, platform)
            users = [
                make_user(session, platform, f"learner-{i}", email=f"l{i}@example.edu")
                for i in range(learners)
            ]
            return World(
                database,
                sync_settings,
                platform.id,
                achievement.id,
                [u.id for u in users],
            )

    return build


def drain(engine: Engine, world: World, *, timeout: float = 20.0, owner: str = "test") -> None:
    """Step the engine in this thread until every delivery is delivered or dead."""
    import requests

    deadline = time.monotonic() + timeout
    with requests.Session() as http:
        while world.count(*FINAL) < world.count():
            if time.monotonic() > deadline:
                raise AssertionError(f"not drained: {[d.status for d in world.deliveries()]}")
            if not engine.step(owner, http, limit=5):
                time.sleep(0.005)


WorkerStarter = Callable[[dict[str, str], int], "subprocess.Popen[str]"]


@pytest.fixture
def start_worker() -> Iterator[WorkerStarter]:
    """Starts `microcred worker --threads N` with the given environment (output captured);
    whatever still runs at the end of the test is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(env: dict[str, str], threads: int) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "lti_tool.cli", "worker", "--threads", str(threads)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)
