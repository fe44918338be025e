"""gunicorn, embedded: `microcred serve` runs the app without a separate WSGI config."""

from __future__ import annotations

import runpy
import signal
import subprocess
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from .settings import DEFAULT_CONFIG_DIR, Settings


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        config_file = DEFAULT_CONFIG_DIR / "gunicorn.conf.py"
        if config_file.exists():
            # BaseApplication has no load_config_from_file (only gunicorn's Application does):
            # read the module's globals and keep those that are gunicorn settings.
            for key, value in runpy.run_path(str(config_file)).items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key.lower(), value)
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app

        return create_app(self._settings)


def run_gunicorn(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int = 1,
    access_log: bool = False,
) -> None:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "proc_name": "microcred",
    }
    if access_log:
        options["accesslog"] = "-"
    _Gunicorn(settings, options).run()


WORKER_COMMAND = [sys.executable, "-m", "lti_tool.cli", "worker"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the worker if `serve` itself dies without stopping it (e.g. SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the worker outlives a killed `serve`, as a separate worker would


def start_worker_process() -> subprocess.Popen[bytes]:
    """One `microcred worker` beside gunicorn, sharing its settings (environment) and output.

    A process, not threads in gunicorn's workers or master: threads in every web worker
    multiply pollers, die with worker recycling, and threads in the master would be copied
    into half-forked web workers (see docs/sync.md).
    """
    # A fixed command: this interpreter running our own CLI, no user input.
    return subprocess.Popen(WORKER_COMMAND, preexec_fn=_die_with_parent)  # noqa: S603


def stop_worker_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (the worker finishes its current deliveries), then SIGKILL after `timeout`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
