"""Fault test: the PostgreSQL server drops every connection mid-run; the workers recover.

PostgreSQL only (marked ``postgres``: deselected on the SQLite pass, see conftest). The
server is shared by the other test runs of this machine, so instead of restarting it the
test does what a restart does to our side: ``pg_terminate_backend`` on every connection to
the test database (the in-process runner's, the ``microcred worker`` process's and the
test's own pooled ones), three times while deliveries are in progress. Claims, reads and
outcome records fail mid-transaction; the workers log, back off and go on, leases of
claims lost after the HTTP call expire and are taken over with the same webhook-id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from lti_tool.db import Database
from lti_tool.models.sync import DELIVERED
from lti_tool.settings import Settings, load_settings
from lti_tool.sync.engine import build_engine
from lti_tool.sync.runner import EmbeddedRunner
from tests.conftest import SECRET_KEY, TOOL_URL

from .conftest import Receiver, WorkerStarter, World, wait_for

pytestmark = pytest.mark.postgres

AWARDS = 120
KILL_ALL = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture
def fast_settings(database: Database, tmp_path: Path) -> Settings:
    return load_settings(
        {},
        database_url=database.url,
        public_url=TOOL_URL,
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
        sync_delay_scale=1e-5,
        sync_lease_seconds=2,  # a claim lost with its connection comes back quickly
        sync_poll_interval=0.05,
    )


@pytest.fixture
def worker_process(
    database: Database, tmp_path: Path, start_worker: WorkerStarter
) -> Callable[[], subprocess.Popen[str]]:
    env = {
        **os.environ,
        "MICROCRED_DATABASE_URL": database.url,
        "MICROCRED_SECRET_KEY": SECRET_KEY,
        "MICROCRED_PUBLIC_URL": TOOL_URL,
        "MICROCRED_INSTANCE_PATH": str(tmp_path),
        "MICROCRED_SYNC_LEASE_SECONDS": "2",
        "MICROCRED_SYNC_POLL_INTERVAL": "0.05",
        "MICROCRED_SYNC_DELAY_SCALE": "0.00001",
    }
    return lambda: start_worker(env, 2)


def test_workers_recover_when_every_database_connection_is_killed(
    make_world: Callable[[int], World],
    database: Database,
    fast_settings: Settings,
    receiver: Receiver,
    outbox: None,
    worker_process: Callable[[], subprocess.Popen[str]],
) -> None:
    assert not database.is_sqlite
    world = make_world(AWARDS)
    world.connect(receiver.url)
    receiver.delay = 0.02  # keep deliveries in flight while the connections are cut
    receiver.fail_ratio = 0.1
    process = worker_process()
    runner = EmbeddedRunner(build_engine(database, fast_settings), threads=2, poll_interval=0.05)
    runner.start()
    killer_engine = create_engine(database.url, poolclass=NullPool)
    killed: list[int] = []
    done = threading.Event()

    def kill_connections() -> None:
        for _ in range(3):
            if done.wait(0.7):
                return
            with killer_engine.connect() as connection:
                killed.append(int(connection.execute(KILL_ALL).scalar_one()))

    killer = threading.Thread(target=kill_connections, name="pg-killer")
    try:
        for start in range(0, AWARDS, 20):  # awards keep coming while connections die
            for attempt in range(20):
                try:
                    _award_range(world, start, 20)
                    break
                except Exception:  # our own connection was cut: retry the transaction
                    if attempt == 19:
                        raise
                    time.sleep(0.05)
            if start == 0:
                killer.start()
        killer.join(30)
        wait_for(lambda: _count_delivered(world) == AWARDS, timeout=60, what="every delivery")
    finally:
        done.set()
        runner.stop()
        killer_engine.dispose()
        process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)

    assert len(killed) == 3 and all(n >= 1 for n in killed), killed
    assert process.returncode == 0, output  # the worker process survived and stopped cleanly
    applied = [a.msg_id for a in receiver.applied]
    assert len(applied) == AWARDS == len(set(applied))  # everything, each applied once
    assert receiver.concurrent == 0  # never sent twice at the same time
    assert {int(a.award_id) for a in receiver.applied} == set(_award_ids(world))


def _award_range(world: World, start: int, count: int) -> None:
    from lti_tool.credentials import awards
    from lti_tool.models import Achievement, User

    with world.database.session() as session:
        achievement = session.get_one(Achievement, world.achievement_id)
        for user_id in world.learner_ids[start : start + count]:
            awards.award(
                session,
                achievement,
                session.get_one(User, user_id),
                source="manual",
                actor="admin:test",
            )


def _count_delivered(world: World) -> int:
    try:
        return world.count(DELIVERED)
    except Exception:  # the test's own connection may have been cut just now
        return -1


def _award_ids(world: World) -> list[int]:
    from sqlalchemy import select

    from lti_tool.models import Award

    with world.database.read_session() as session:
        return list(session.scalars(select(Award.id)))
