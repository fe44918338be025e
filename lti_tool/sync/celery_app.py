"""The scale-out runner: Celery on Redis, carrying only delivery ids.

The database stays the source of truth; the queue is a wake-up signal. ``microcred worker``
(with ``MICROCRED_SYNC_RUNNER=celery``) runs the sweeper: every poll interval it marks due
deliveries as queued (:meth:`Engine.sweep`) and sends one ``microcred.sync.deliver`` task
per id. The task claims that delivery by id with a lease (so duplicates of a message, or a
delivery also claimed by an embedded worker, are harmless), calls the connector with no
transaction open and records the outcome, exactly as the embedded runner does. A lost
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

log = logging.getLogger(__name__)

DELIVER_TASK = "microcred.sync.deliver"


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


def deliver(delivery_id: int) -> str:
    """Claim delivery ``delivery_id`` if it is still due, attempt it, record the outcome."""
    current = engine()
    owner = worker_name("celery")
    jobs = current.claim(owner, 1, ids=[delivery_id])
    if not jobs:
        current.unqueue(delivery_id)  # not due (any more), leased elsewhere, or rate-limited
        return "skipped"
    if _thread_state.http is None:
        _thread_state.http = requests.Session()
    return current.process(jobs[0], _thread_state.http)


def sweep_once(celery: Celery, current: Engine, limit: int = 500) -> int:
    """Queue every due delivery once; returns how many were queued."""
    ids = current.sweep(limit)
    for delivery_id in ids:
        celery.send_task(DELIVER_TASK, args=[delivery_id])
    return len(ids)


class Sweeper:
    """The loop `microcred worker` runs in Celery mode."""

    def __init__(self, celery: Celery, current: Engine, poll_interval: float) -> None:
        self.celery = celery
        self.engine = current
        self.poll_interval = poll_interval
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                queued = sweep_once(self.celery, self.engine)
            except Exception:  # database or broker restarting: log, wait, go on
                log.exception("sync sweeper: sweep failed")
                queued = 0
            if not queued:
                self._stop.wait(self.poll_interval)


def _app() -> Any:
    try:
        return make_celery(load_settings())
    except Exception:  # pragma: no cover - configuration errors surface when run
        log.exception("cannot configure the Celery app")
        raise


#: The app `celery -A lti_tool.sync.celery_app` loads.
app = _app()
