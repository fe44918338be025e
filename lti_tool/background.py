"""The background work of one `microcred worker` process.

* housekeeping: expired login states, launch data and tool sessions are deleted and awards
  whose validity ended are expired (status, audit event, status list, sync deliveries),
  every `MICROCRED_HOUSEKEEPING_INTERVAL_SECONDS`; logins also do it, at most every 5
  minutes per process, so a quiet tool without logins still expires its awards here;
* gradebook: AGS rules evaluated and scores posted back (`lti_tool.gradebook`);
* sync: the embedded delivery runner, or with the Celery runner the sweeper that queues due
  deliveries; nothing with `MICROCRED_SYNC_RUNNER=none`.

The app is built with `create_app` so that work done here (rule awards, expiries) passes
through the same award listeners as in `serve`: signed credential, outbox rows, post-backs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .db import Database
from .housekeeping import expire_awards, purge_expired
from .settings import Settings

log = logging.getLogger(__name__)


class Periodic:
    """`job()` in a daemon thread every `interval` seconds (first run at once) until stopped.

    A failing run is logged and the next one tries again: the database restarting must not
    end the thread.
    """

    def __init__(self, name: str, interval: float, job: Callable[[], object]) -> None:
        if interval <= 0:
            raise ValueError(f"the {name} interval must be positive")
        self.name = name
        self.interval = interval
        self.job = job
        self.runs = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Periodic:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.job()
            except Exception:
                log.exception("%s run failed; the next run retries", self.name)
            self.runs += 1
            self._stopping.wait(max(self.interval - (time.monotonic() - started), 0.01))


def housekeeping(database: Database) -> tuple[int, int]:
    """One housekeeping run in its own write transaction: (rows purged, awards expired)."""
    with database.session() as session:
        purged = purge_expired(session)
        expired = expire_awards(session)
    return purged, expired


class Background:
    """Everything `microcred worker` runs, started and stopped together."""

    def __init__(self, settings: Settings, database: Database, *, threads: int | None = None):
        self.settings = settings
        self.database = database
        self.threads = threads or settings.sync_threads
        self._stoppers: list[Callable[[], Any]] = []

    def start(self) -> list[str]:
        """Start every part; returns one line per part for the operator."""
        from .app import create_app
        from .gradebook import GradebookJob, GradebookSweeper

        settings, database = self.settings, self.database
        services = create_app(settings, database=database).extensions["microcred"]
        started: list[str] = []

        chores = Periodic(
            "housekeeping", settings.housekeeping_interval_seconds, lambda: housekeeping(database)
        ).start()
        self._stoppers.append(chores.stop)
        started.append(f"housekeeping and award expiry every {chores.interval:g} s")

        gradebook = GradebookSweeper(GradebookJob(services), settings.rules_interval_seconds)
        gradebook.start()
        self._stoppers.append(gradebook.stop)
        started.append(f"gradebook rules and score post-back every {gradebook.interval:g} s")

        if settings.sync_runner == "embedded":
            from .sync.engine import build_engine
            from .sync.runner import EmbeddedRunner

            runner = EmbeddedRunner(
                build_engine(database, settings),
                threads=self.threads,
                poll_interval=settings.sync_poll_interval,
                batch=settings.sync_batch,
            )
            runner.start()
            self._stoppers.append(runner.stop)
            started.append(f"sync deliveries with {runner.threads} thread(s)")
        elif settings.sync_runner == "celery":
            from .sync.celery_app import Sweeper, make_celery
            from .sync.engine import build_engine

            sweeper = Sweeper(
                make_celery(settings), build_engine(database, settings), settings.sync_poll_interval
            )
            thread = threading.Thread(target=sweeper.run, name="sync-sweeper", daemon=True)
            thread.start()

            def stop_sweeper() -> None:
                sweeper.stop()
                thread.join(30)

            self._stoppers.append(stop_sweeper)
            started.append("sync sweeper: due deliveries go to the Celery queue")
        else:
            started.append("sync is switched off (MICROCRED_SYNC_RUNNER=none)")
        return started

    def stop(self) -> None:
        """Stop in reverse order of starting (deliveries first), then close the pool."""
        while self._stoppers:
            self._stoppers.pop()()
        self.database.dispose()
