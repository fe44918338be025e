"""The HTTP session a sync worker hands to its connectors.

``requests`` honours the environment's proxy and CA-bundle settings (``HTTPS_PROXY``,
``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ...) by scanning the whole of ``os.environ`` again on
every request, twice for the proxies. In a worker process that sends thousands of
deliveries to the same few targets that scan was a sixth of a delivery's CPU time
(benchmarks/sync.py, profiled). :class:`WorkerSession` reads it once per target origin and
keeps the answer for the life of the process; settings given to a call still win. No
library offers this, so it is written here: a small override of the documented
``Session.merge_environment_settings`` hook.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from requests.sessions import _Settings


class WorkerSession(requests.Session):
    """A :class:`requests.Session` that reads proxy and CA settings from the environment
    once per target origin (scheme and host), not once per request."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[Hashable, _Settings] = {}
        self._lock = threading.Lock()

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        if proxies or not self.trust_env or not isinstance(url, str):  # the usual path
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (
            parts.scheme,
            parts.netloc,
            stream,
            verify,
            cert if not isinstance(cert, list) else tuple(cert),
            tuple(sorted(self.proxies.items())),
            self.stream,
            self.verify if not isinstance(self.verify, list) else tuple(self.verify),
            self.cert if not isinstance(self.cert, list) else tuple(self.cert),
        )
        with self._lock:
            merged = self._environment.get(key)
        if merged is None:
            merged = super().merge_environment_settings(url, {}, stream, verify, cert)
            with self._lock:
                self._environment[key] = merged
        # Copies: requests may change the proxies of one request (redirects).
        copy = merged.copy()
        copy["proxies"] = dict(merged["proxies"])
        return copy
