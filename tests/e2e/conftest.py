"""Real-browser fixtures: the tool and the test LMS served over HTTP on two loopback sites.

The tool listens on http://127.0.0.1:<port> and the LMS on http://localhost:<port2>: two
different sites, so the tool runs in a genuinely cross-site iframe of the LMS course page.
Over plain HTTP the tool's state cookie is `SameSite=Lax`, which the browser does not send
with the LMS's cross-site form post to /lti/launch inside the iframe: the cookie path fails
exactly as in a browser that blocks third-party cookies, and only Platform Storage (or the
new-window fallback) can complete the launch.

Chromium comes from the system (`MICROCRED_CHROMIUM`, default /usr/bin/chromium); axe-core
from `npm ci --prefix tests/e2e`. When either is missing the tests fail with the command to
run, unless MICROCRED_ALLOW_SKIP_BROWSER=1 turns that into a skip.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from lti_tool.app import create_app
from lti_tool.db import Database
from lti_tool.keys import ensure_keys
from lti_tool.platforms import add_platform
from lti_tool.secretbox import SecretBox
from lti_tool.settings import Settings, load_settings
from lti_tool.testplatform import TestPlatform

from ..conftest import SECRET_KEY

E2E_DIR = Path(__file__).resolve().parent
AXE_JS = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("MICROCRED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling home, which a closed network punishes with stalls.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # One renderer process for the LMS page and the tool frame. With site isolation each hop
    # between the two sites swaps the frame's process, and Playwright now and then loses
    # track of the frame mid-swap (it stays on the old URL). Cookies, SameSite, storage
    # partitioning and postMessage do not depend on the process model.
    "--disable-site-isolation-trials",
]
VIEWPORT = {"width": 1280, "height": 760}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def missing(what: str, how: str) -> None:
    """Fail (or, when allowed, skip) because a browser-test prerequisite is absent."""
    message = f"{what} is missing: {how}"
    if os.environ.get("MICROCRED_ALLOW_SKIP_BROWSER") == "1":
        pytest.skip(message + " (skipped: MICROCRED_ALLOW_SKIP_BROWSER=1)")
    pytest.fail(message + " (or set MICROCRED_ALLOW_SKIP_BROWSER=1 to skip)", pytrace=False)


# -- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("The Python package playwright", "pip install -e '.[test]'")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        missing(
            f"Chromium ({CHROMIUM})",
            "apt-get install chromium, or point MICROCRED_CHROMIUM at a Chromium binary",
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.is_file():
        missing(
            f"axe-core ({AXE_JS.relative_to(E2E_DIR.parent.parent)})", "npm ci --prefix tests/e2e"
        )
    return AXE_JS.read_text(encoding="utf-8")


# -- the tool and the LMS, served for real ---------------------------------------------------


class _Dispatcher:
    """A WSGI app set after the server has its port (the tool's settings need the URL)."""

    app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


@dataclass
class Served:
    url: str
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def tool_server(database: Database) -> Iterator[tuple[Served, _Dispatcher]]:
    dispatcher = _Dispatcher()
    server = make_server("127.0.0.1", 0, dispatcher, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served = Served(f"http://127.0.0.1:{server.server_port}", server, thread)
    yield served, dispatcher
    served.stop()


@pytest.fixture
def settings(
    tool_server: tuple[Served, _Dispatcher], database: Database, tmp_path: Path
) -> Settings:
    """The tool's settings: its public URL is where it is actually served."""
    return load_settings(
        {},
        database_url=database.url,
        public_url=tool_server[0].url,
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
    )


@pytest.fixture
def tool(tool_server: tuple[Served, _Dispatcher], settings: Settings, database: Database) -> str:
    """The tool's base URL, serving `create_app(settings)` on 127.0.0.1."""
    app = create_app(settings, database=database)
    with database.session() as session:
        ensure_keys(session, SecretBox(settings.secret_key))
    tool_server[1].app = app
    return tool_server[0].url


@pytest.fixture
def lms(tool: str, database: Database) -> Iterator[TestPlatform]:
    """The test LMS on localhost (another site than the tool), registered in the tool."""
    platform = TestPlatform(tool_url=tool).serve(host="localhost")
    platform.add_classroom()
    with database.session() as session:
        add_platform(session, **platform.registration())
    yield platform
    platform.stop()
