"""The Celery runner with a real Celery worker process on a real Redis (127.0.0.1:6379).

The sweeper is `microcred worker` with MICROCRED_SYNC_RUNNER=celery; the deliveries run in
`celery -A lti_tool.sync.celery_app worker`. Each test uses its own queue name.
Set MICROCRED_TEST_REDIS_URL to use another Redis; MICROCRED_ALLOW_SKIP_REDIS=1 turns a
missing Redis into a skip instead of a failure.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from lti_tool.models import DeliveryAttempt
from lti_tool.models.sync import DELIVERED
from lti_tool.settings import Settings
from lti_tool.sync.celery_app import Sweeper, make_celery
from lti_tool.sync.engine import QUEUED, build_engine
from tests.conftest import SECRET_KEY, TOOL_URL

from .conftest import Receiver, World, wait_for

REDIS_URL = os.environ.get("MICROCRED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def queue() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS_URL} is not reachable ({exc})"
        if os.environ.get("MICROCRED_ALLOW_SKIP_REDIS") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    name = f"microcred-sync-test-{uuid.uuid4().hex[:8]}"
    yield name
    client.delete(name, *client.keys(f"{name}*"))
    client.close()


@pytest.fixture
def spawn(queue: str, tmp_path: Path) -> Iterator[Spawn]:
    started: list[tuple[str, subprocess.Popen[str]]] = []

    def start(database_url: str, *command: str) -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "MICROCRED_DATABASE_URL": database_url,
            "MICROCRED_SECRET_KEY": SECRET_KEY,
            "MICROCRED_PUBLIC_URL": TOOL_URL,
            "MICROCRED_INSTANCE_PATH": str(tmp_path),
            "MICROCRED_SYNC_RUNNER": "celery",
            "MICROCRED_SYNC_BROKER_URL": REDIS_URL,
            "MICROCRED_SYNC_CELERY_QUEUE": queue,
            # Longer than one delivery takes on a busy machine (a fresh worker imports a lot).
            "MICROCRED_SYNC_LEASE_SECONDS": "5",
            "MICROCRED_SYNC_POLL_INTERVAL": "0.1",
            "MICROCRED_SYNC_DELAY_SCALE": "0.00001",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append((" ".join(command[:4]), process))
        return process

    yield start
    for label, process in started:
        if process.poll() is None:
            process.terminate()
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate(timeout=5)
        print(f"--- {label} (exit {process.returncode}):\n{output}")


SWEEPER = ("lti_tool.cli", "worker")
CELERY = (
    "celery",
    "-A",
    "lti_tool.sync.celery_app",
    "worker",
    "--pool",
    "threads",
    "--concurrency",
    "2",
    "--loglevel",
    "WARNING",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
)


def test_celery_workers_deliver_everything_once_through_a_flaky_receiver(
    make_world: Callable[[int], World],
    receiver: Receiver,
    spawn: Spawn,
    outbox: None,
) -> None:
    world = make_world(20)
    world.connect(receiver.url)
    receiver.fail_ratio = 0.2
    spawn(world.database.url, *CELERY)
    sweeper = spawn(world.database.url, *SWEEPER)
    world.award(20, revoke=True)
    wait_for(lambda: world.count(DELIVERED) == 40, timeout=40, what="40 Celery deliveries")
    assert len(receiver.applied) == 40 and receiver.duplicates == 0
    order: dict[str, list[int]] = {}
    for applied in receiver.applied:
        order.setdefault(applied.award_id, []).append(applied.sequence)
    assert all(sequences == [1, 2] for sequences in order.values())  # revoke after award
    with world.database.read_session() as session:
        workers = set(session.scalars(select(DeliveryAttempt.worker)))
    assert workers and all(w.endswith(":celery") for w in workers)

    sweeper.send_signal(signal.SIGTERM)
    output, _ = sweeper.communicate(timeout=20)
    assert sweeper.returncode == 0, output


def test_a_celery_worker_killed_mid_delivery_loses_nothing(
    make_world: Callable[[int], World],
    receiver: Receiver,
    spawn: Spawn,
    outbox: None,
) -> None:
    world = make_world(1)
    world.connect(receiver.url)
    receiver.hang_first = True  # applies the event, then never answers
    first = spawn(world.database.url, *CELERY)
    spawn(world.database.url, *SWEEPER)
    world.award(1)
    if not receiver.first_arrived.wait(30):
        first.kill()
        pytest.fail(f"the Celery worker never sent the event:\n{first.communicate()[0]}")
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    spawn(world.database.url, *CELERY)
    wait_for(lambda: world.count(DELIVERED) == 1, timeout=30, what="the takeover")
    (row,) = world.deliveries()
    assert receiver.seen == [row.idempotency_key] * 2
    assert len(receiver.applied) == 1 and receiver.duplicates == 1


def _queued_ids(client: redis.Redis, queue: str) -> list[list[int]]:
    """The delivery ids of each message waiting on ``queue`` (Celery's message protocol 2:
    a base64 JSON body of [args, kwargs, embed])."""
    messages = []
    for raw in client.lrange(queue, 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        messages.append([int(i) for i in body[0][0]])
    return messages


def test_the_sweeper_tops_the_queue_up_instead_of_flooding_it(
    make_world: Callable[[int], World], sync_settings: Settings, queue: str, outbox: None
) -> None:
    settings = dataclasses.replace(
        sync_settings,
        sync_broker_url=REDIS_URL,
        sync_celery_queue=queue,
        sync_batch=5,
        sync_celery_backlog=4,
    )
    world = make_world(60)
    world.connect("http://127.0.0.1:9/hooks")  # nothing is delivered in this test
    world.award(60)
    sweeper = Sweeper(make_celery(settings), build_engine(world.database, settings), 0.02)
    thread = threading.Thread(target=sweeper.run, daemon=True)
    client = redis.Redis.from_url(REDIS_URL)

    def queued_rows() -> set[int]:
        return {d.id for d in world.deliveries() if d.lease_owner == QUEUED}

    thread.start()
    try:
        wait_for(lambda: client.llen(queue) == 4, what="a full backlog")
        time.sleep(0.3)  # many polls of a full queue: nothing more is queued
        messages = _queued_ids(client, queue)
        assert [len(ids) for ids in messages] == [5, 5, 5, 5]
        assert {i for ids in messages for i in ids} == queued_rows()

        client.rpop(queue)  # a worker takes the oldest message: 3 of 4 still waiting
        time.sleep(0.3)
        assert client.llen(queue) == 3 and len(queued_rows()) == 20

        client.rpop(queue)  # half the backlog is taken: one sweep refills it
        wait_for(lambda: client.llen(queue) == 4, what="the refill")
        time.sleep(0.1)
        assert client.llen(queue) == 4 and len(queued_rows()) == 30
    finally:
        sweeper.stop()
        thread.join(10)
        client.close()
    assert not thread.is_alive()
