"""The scale-out runner: Celery on Redis, carrying only delivery ids.

The database stays the source of truth; the queue is a wake-up signal. ``microcred worker``
(with ``MICROCRED_SYNC_RUNNER=celery``) runs the sweeper: every poll interval it marks due
deliveries as queued (:meth:`Engine.sweep`) and sends ``microcred.sync.deliver`` tasks
carrying up to ``sync_batch`` delivery ids each (``MICROCRED_SYNC_BATCH``, the batch an
embedded worker claims). A task claims its deliveries by id with a
lease in one transaction (so duplicates of a message, or a delivery also claimed by an
embedded worker, are harmless), calls the connector for each with no transaction open and
records the outcomes in one more transaction, exactly as the embedded runner does. A lost
message or a killed Celery worker costs one lease period: the lease expires and the next
sweep queues the delivery again, with the same idempotency key. Switching between the
embedded and the Celery runner needs no data migration.

    celery -A lti_tool.sync.celery_app worker --pool threads --concurrency 4
    MICROCRED_SYNC_RUNNER=celery microcred worker        # the sweeper

Configuration comes from the usual settings (``MICROCRED_SYNC_BROKER_URL``,
``MICROCRED_SYNC_CELERY_QUEUE``, the database URL, the secret key).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import requests
from celery import Celery  # type: ignore[import-untyped]

from lti_tool.db import Database
from lti_tool.settings import Settings, load_settings

from .engine import Engine, build_engine, worker_name
from .http import WorkerSession

log = logging.getLogger(__name__)

DELIVER_TASK = "microcred.sync.deliver"
SPREAD = 8  # a sweep of fewer than sync_batch * SPREAD ids still goes out as SPREAD messages


def make_celery(settings: Settings) -> Celery:
    celery = Celery("microcred", broker=settings.sync_broker_url, set_as_current=False)
    celery.conf.update(
        task_default_queue=settings.sync_celery_queue,
        task_ignore_result=True,
        task_acks_late=True,  # a message is only gone once its attempt is recorded
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    celery.task(name=DELIVER_TASK, ignore_result=True)(deliver)
    return celery


class _State(threading.local):
    http: requests.Session | None = None


_lock = threading.Lock()
_engine: tuple[int, Engine] | None = None
_thread_state = _State()


def engine() -> Engine:
    """This process's engine (created on first use, again after a fork)."""
    global _engine
    with _lock:
        if _engine is None or _engine[0] != os.getpid():
            settings = load_settings()
            _engine = (os.getpid(), build_engine(Database(settings.database_url), settings))
        return _engine[1]


def deliver(delivery_ids: int | list[int]) -> str:
    """Claim those of ``delivery_ids`` still due, attempt them, record their outcomes.

    A message carries a few delivery ids (:func:`sweep_once`), claimed in one transaction
    and recorded in another, as an embedded worker's batch. A single id (a message queued
    before batching) works too.
    """
    ids = [delivery_ids] if isinstance(delivery_ids, int) else [int(i) for i in delivery_ids]
    current = engine()
    owner = worker_name("celery")
    jobs = current.claim(owner, len(ids), ids=ids)
    claimed = {job.delivery_id for job in jobs}
    # Not due (any more), leased elsewhere, or rate-limited: the next sweep queues them again.
    current.unqueue([i for i in ids if i not in claimed])
    if not jobs:
        return "skipped"
    if _thread_state.http is None:
        _thread_state.http = WorkerSession()
    statuses = current.run(jobs, _thread_state.http)
    return ", ".join(
        f"{job.delivery_id}: {status}" for job, status in zip(jobs, statuses, strict=True)
    )


def sweep_once(celery: Celery, current: Engine, messages: int) -> int:
    """Queue due deliveries in at most ``messages`` messages; returns how many were queued.

    The ids go out ``sync_batch`` to a message, so that a task pays one claim and one record
    transaction for several deliveries; a small sweep is spread over up to ``SPREAD``
    messages so that it still reaches several workers.
    """
    batch = current.settings.sync_batch
    ids = current.sweep(messages * batch)
    size = min(batch, max(1, -(-len(ids) // min(SPREAD, messages))))
    for start in range(0, len(ids), size):
        celery.send_task(DELIVER_TASK, args=[ids[start : start + size]])
    return len(ids)


def queue_depth(connection: Any, queue: str) -> int:
    """Messages waiting on ``queue`` that no worker has taken yet (0 if it does not exist:
    on Redis a queue with no messages has no key)."""
    try:
        _, count, _ = connection.default_channel.queue_declare(queue=queue, passive=True)
    except connection.channel_errors:
        return 0
    return int(count)


class Sweeper:
    """The loop `microcred worker` runs in Celery mode.

    It keeps the queue topped up rather than emptying the table into it: while more than
    half of ``sync_celery_backlog`` messages are still waiting it only looks at the queue's
    length (one broker round trip) and leaves the database alone, then refills it in one
    sweep. So a burst of awards does not cost a scan of the waiting rows per poll (on
    PostgreSQL, before autovacuum has analysed the burst, each sweep reads all of them),
    and a queued id is taken by a worker long before its queued lease runs out (an expired
    one would be queued a second time).
    """

    FULL_RECHECK = 0.05  # seconds between two looks at a full queue (capped by poll_interval)

    def __init__(self, celery: Celery, current: Engine, poll_interval: float) -> None:
        self.celery = celery
        self.engine = current
        self.poll_interval = poll_interval
        self.backlog = current.settings.sync_celery_backlog
        self.queue = current.settings.sync_celery_queue
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        with self.celery.connection_for_read() as connection:
            while not self._stop.is_set():
                wait = self.poll_interval
                try:
                    waiting = queue_depth(connection, self.queue)
                    room = self.backlog - waiting
                    if waiting > self.backlog // 2:  # refill once half of it is taken
                        wait = min(wait, self.FULL_RECHECK)
                    elif sweep_once(self.celery, self.engine, room):
                        wait = 0
                except Exception:  # database or broker restarting: log, wait, go on
                    log.exception("sync sweeper: sweep failed")
                if wait:
                    self._stop.wait(wait)


def _app() -> Any:
    try:
        return make_celery(load_settings())
    except Exception:  # pragma: no cover - configuration errors surface when run
        log.exception("cannot configure the Celery app")
        raise


#: The app `celery -A lti_tool.sync.celery_app` loads.
app = _app()
