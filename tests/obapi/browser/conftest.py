"""Real-browser fixtures for the OB 3.0 API: the tool and the test LMS served on two loopback
sites and axe-core, shared with tests/e2e. The browser itself is not shared: tests/e2e keeps
its Playwright (sync API) running for the whole session, and a second one cannot start in the
same thread, so these tests drive their own Chromium from a worker thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import axe_source as axe_source
from tests.e2e.conftest import lms as lms
from tests.e2e.conftest import settings as settings
from tests.e2e.conftest import tool as tool
from tests.e2e.conftest import tool_server as tool_server

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
