"""gunicorn, embedded: `microcred serve` runs the app without a separate WSGI config."""

from __future__ import annotations

import runpy
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
