"""Engine and session factory for SQLite (embedded default) and PostgreSQL.

Services receive a `Session` and only flush; the request or command boundary commits once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def make_engine(database_url: str, *, background_checkpoint: bool = False, **kwargs: Any) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            **kwargs,
        )
        on_disk = bool(url.database) and url.database != ":memory:"
        _configure_sqlite(
            engine,
            WriteGate(Path(f"{url.database}.writegate")) if on_disk else None,
            auto_checkpoint=not background_checkpoint,
        )
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


class WalCheckpointer:
    """Checkpoint the SQLite WAL from a background thread, off the request path.

    SQLite's automatic checkpoint runs inside whichever commit crosses the threshold and
    fsyncs there: measured here, it turned a 0.1 ms commit into 6-7 ms every few dozen
    transactions, while that request held the write lock. Request connections turn the
    automatic checkpoint off; this thread runs a PASSIVE checkpoint (never blocks readers or
    writers) every `interval` seconds. sqlite3 releases the GIL while it works.
    """

    def __init__(self, path: str, interval: float = 1.0) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._pid = os.getpid()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        try:
            while not self._stop.wait(self._interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # e.g. the file was removed; try again later
                    log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            connection.close()

    def stop(self) -> None:
        if self._pid == os.getpid() and self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout=10)


class WriteGate:
    """Queue SQLite write transactions instead of letting them race for the file lock.

    With several threads and processes writing, SQLite's busy handler makes a waiting writer
    sleep 1, 2, 5, ... up to 100 ms between tries and lets late arrivals win, which turns a
    ~1 ms transaction into p99 latencies of a second. Here a writer waits on a thread lock
    and then on `flock` of a file beside the database (shared by every process, e.g. the
    gunicorn workers); both wake the next waiter as soon as the holder commits. SQLite has
    no such option and no maintained library adds one, hence this small class.
    """

    def __init__(self, lock_path: Path) -> None:
        self._path = lock_path
        self._lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    def acquire(self) -> None:
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1:
            if self._fd is None or self._pid != os.getpid():  # first use, or after a fork
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()


def _configure_sqlite(engine: Engine, gate: WriteGate | None, *, auto_checkpoint: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Take transaction control from pysqlite so that "begin" below is the only BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not auto_checkpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # WalCheckpointer does it
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Sessions that may write use BEGIN IMMEDIATE: it takes the write lock up front. A
        # deferred transaction that reads and then writes can fail at once with
        # SQLITE_BUSY_SNAPSHOT when another process wrote in between (busy_timeout does not
        # cover that case), so waiting for the lock is the correct behaviour. Read-only
        # sessions (Database.reader) begin DEFERRED and never block on writers in WAL mode.
        # Either way: never hold a transaction open across an outbound HTTP call.
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode == "IMMEDIATE" and gate is not None:
            gate.acquire()
            connection.connection.info["write_gate"] = True
        connection.exec_driver_sql(f"BEGIN {mode}")

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: object, record: Any) -> None:
        # The connection is back in the pool: its transaction has committed or rolled back.
        if record.info.pop("write_gate", False) and gate is not None:
            gate.release()


class Database:
    """One engine and its session factory, owned by the app or a CLI command."""

    def __init__(self, database_url: str, **engine_kwargs: Any) -> None:
        self.url = database_url
        url = make_url(database_url)
        on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        self._checkpointer = WalCheckpointer(str(url.database)) if on_disk else None
        self.engine = make_engine(database_url, background_checkpoint=on_disk, **engine_kwargs)
        if self._checkpointer is not None:
            self._checkpointer.start()
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.reader = sessionmaker(
            self.engine.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any exception."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only unit of work (DEFERRED on SQLite: no write lock)."""
        session = self.reader()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
