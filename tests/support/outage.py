"""Take a loopback test server down and bring it back on the same port, state intact.

While it is down its port refuses connections, as a target whose host is down does; the
server object (and the state the contract servers keep) lives on, so a test can check that
nothing was lost or applied twice once it is back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

from connectors.testing import LOOPBACK, LocalServer


@contextmanager
def outage(server: LocalServer) -> Iterator[None]:
    """Stop ``server`` for the ``with`` block, then serve again on the same address."""
    handler = server.httpd.RequestHandlerClass
    server.close()
    try:
        yield
    finally:
        # HTTPServer sets SO_REUSEADDR, so the port can be bound again at once.
        httpd = ThreadingHTTPServer((LOOPBACK, server.port), handler)
        httpd.daemon_threads = True
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        server.httpd = httpd
        server._thread = thread
