"""The embedded runner: worker threads that poll the database for due deliveries.

Each thread claims a small batch of due deliveries (:meth:`Engine.step`), attempts them
one after the other and records their outcomes together (early, renewing the leases of the
rest, if the calls take a third of the lease). An
idle thread sleeps ``poll_interval`` seconds, or less when a retry falls due sooner, and
wakes at once when this process queues a delivery (:meth:`wake`, hooked to the outbox's
after-commit signal). :meth:`stop` lets every thread finish its current batch; a thread
killed mid-delivery loses nothing: its lease expires and another worker takes the delivery
over with the same idempotency key.
"""

from __future__ import annotations

import logging
import threading

from . import outbox
from .engine import Engine, worker_name
from .http import WorkerSession

log = logging.getLogger(__name__)


class EmbeddedRunner:
    def __init__(
        self, engine: Engine, *, threads: int = 2, poll_interval: float = 1.0, batch: int = 10
    ) -> None:
        if threads < 1 or batch < 1:
            raise ValueError("threads and batch must be at least 1")
        self.batch = batch
        self.engine = engine
        self.threads = threads
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._wakeups = 0
        self._workers: list[threading.Thread] = []

    def start(self) -> EmbeddedRunner:
        if self._workers:
            return self
        self._stop.clear()
        outbox.add_waker(self.wake)
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"sync-{n + 1}", daemon=True)
            self._workers.append(thread)
            thread.start()
        log.info("sync runner started with %d thread(s)", self.threads)
        return self

    def wake(self) -> None:
        with self._wake:
            self._wakeups += 1
            self._wake.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every thread to stop after its current delivery, and wait for them."""
        outbox.remove_waker(self.wake)
        self._stop.set()
        self.wake()
        for thread in self._workers:
            thread.join(timeout)
        self._workers = []

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._workers)

    def _run(self) -> None:
        owner = worker_name()
        http = WorkerSession()
        try:
            while not self._stop.is_set():
                with self._wake:
                    seen = self._wakeups
                try:
                    claimed = self.engine.step(owner, http, self.batch)
                except Exception:  # e.g. the database restarting: log, back off, go on
                    log.exception("sync worker %s: step failed", owner)
                    self._stop.wait(self.poll_interval)
                    continue
                if claimed:
                    continue
                self._idle(seen)
        finally:
            http.close()

    def _idle(self, seen: int) -> None:
        wait = self.poll_interval
        try:
            due = self.engine.next_due_in()
        except Exception:
            due = None
        if due is not None:
            wait = min(wait, max(due, 0.01))
        with self._wake:
            if self._wakeups == seen and not self._stop.is_set():
                self._wake.wait(wait)
