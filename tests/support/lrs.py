"""A private xapi-statements LRS for one test (tests/connectors/conftest.py starts the
session-wide one with it too).

Statement ids are derived from delivery idempotency keys, which repeat from one fresh test
database to the next; a test that delivers through the whole engine therefore needs an LRS
of its own, or it would meet the previous test's statements under the same ids.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from connectors.testing import free_port
from tests.connectors.conftest import LRS_PRELOAD, LRS_SERVER, XAPI_HEADERS, Lrs


class LrsUnavailable(RuntimeError):
    """Node or the npm install of the LRS is missing, or it did not start."""


@contextmanager
def private_lrs(workdir: Path, *, start_timeout: float = 30.0) -> Iterator[Lrs]:
    """Run Learning Locker's xapi-statements (in-memory, 127.0.0.1) for the ``with`` block."""
    node = shutil.which("node")
    if node is None or not LRS_SERVER.is_file():
        raise LrsUnavailable(
            "node or tests/lrs/node_modules is missing: run "
            "`npm ci --prefix tests/lrs --ignore-scripts` (Node 20)"
        )
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "en",
        "NODE_ENV": "test",
        "AUTH_REPO": "test",
        "EVENTS_REPO": "test",
        "MODELS_REPO": "memory",
        "STORAGE_REPO": "local",
        "FS_LOCAL_STORAGE_DIR": str(workdir / "storage"),
        "EXPRESS_MORGAN_DIRECTORY": str(workdir / "access-logs"),
        "EXPRESS_PORT": str(port),
        "SERVICE_AWAIT_UPDATES": "true",  # apply voiding before answering the PUT
        "WINSTON_CONSOLE_LEVEL": "warn",
    }
    log = workdir / "lrs.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [node, "--require", str(LRS_PRELOAD), str(LRS_SERVER)],
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}/xAPI"
    try:
        _wait_until_up(process, f"{endpoint}/about", log, start_timeout)
        yield Lrs(endpoint=endpoint, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_up(process: subprocess.Popen[bytes], about: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LrsUnavailable(f"the LRS exited ({process.returncode}):\n{log.read_text()}")
        try:
            if requests.get(about, headers=XAPI_HEADERS, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise LrsUnavailable(f"the LRS did not answer {about} within {timeout} s")
