"""`microcred demo`: the tool and the demo LMS start on loopback, the demo page serves, a real
LTI 1.3 launch from it works (over HTTP: login, the LMS's /auth, the form post to /launch),
every page says DEMO, and the demo refuses production settings and non-SQLite databases."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from lti_tool.cli import main
from lti_tool.models import Platform
from lti_tool.testplatform.demo import CLIENT_ID, DemoRefused, RunningDemo, start_demo

from .conftest import SECRET_KEY

PRODUCTION = {
    "MICROCRED_ENV": "production",
    "MICROCRED_PUBLIC_URL": "https://microcred.example.edu",
    "MICROCRED_DATABASE_URL": "sqlite:////var/lib/microcred/microcred.db",
    "MICROCRED_SECRET_KEY": SECRET_KEY,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"MICROCRED_INSTANCE_PATH": str(tmp_path), "MICROCRED_SECRET_KEY": SECRET_KEY}


@pytest.fixture
def demo(environ: dict[str, str]) -> Iterator[RunningDemo]:
    running = start_demo(environ, port=0, lms_port=0)
    yield running
    running.stop()


def launch(demo: RunningDemo, sub: str) -> tuple[requests.Session, requests.Response]:
    """What the browser does for the tool iframe of /demo/course?user=<sub>."""
    browser = requests.Session()
    course = browser.get(f"{demo.lms.base_url}/demo/course", params={"user": sub}, timeout=10)
    assert course.status_code == 200
    src = re.search(r'<iframe name="tool-frame"[^>]* src="([^"]+)"', course.text, re.S)
    assert src, "the course page has no tool iframe"
    login_url = unescape(src.group(1))
    assert login_url.startswith(demo.settings.public_url + "/lti/login?")
    assert "lti_storage_target=_parent" in login_url  # the page offers Platform Storage
    # Without JavaScript there is no Platform Storage: the state cookie carries the login.
    login_url = login_url.replace("&lti_storage_target=_parent", "")
    auth = browser.get(login_url, timeout=10)  # tool login -> redirect -> the LMS's /auth
    assert auth.status_code == 200 and auth.url.startswith(demo.lms.base_url + "/auth")
    fields = dict(re.findall(r'name="(id_token|state)" value="([^"]+)"', auth.text))
    action = unescape(re.search(r'action="([^"]+)"', auth.text).group(1))  # type: ignore[union-attr]
    landed = browser.post(action, data=fields, timeout=10)
    return browser, landed


def test_demo_serves_its_page_and_a_real_launch_lands_in_the_tool(demo: RunningDemo) -> None:
    page = requests.get(demo.url, timeout=10)
    assert page.status_code == 200
    assert 'data-testid="demo-banner"' in page.text and "<strong>DEMO</strong>" in page.text
    for name in ("Grace Hopper", "Ada Lovelace", "Katherine Johnson", "Alan Turing"):
        assert name in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    browser, landed = launch(demo, "teacher-1")
    assert landed.status_code == 200, landed.text[:500]
    assert landed.url == demo.settings.public_url + "/lti/launch"
    assert "Grace Hopper" in landed.text and "Data Skills (demo course)" in landed.text
    assert 'data-testid="demo-banner"' in landed.text  # the tool's own pages say DEMO too
    assert landed.headers["X-Microcred-Demo"] == "1"
    token = re.search(r'id="page-url" data-url="/app\?s=([\w-]+)"', landed.text)
    assert token
    achievements = browser.get(
        demo.settings.public_url + "/app/instructor", params={"s": token.group(1)}, timeout=10
    )
    assert achievements.status_code == 200
    assert "Achievements of Data Skills (demo course)" in achievements.text
    assert 'data-testid="demo-banner"' in achievements.text

    _, learner = launch(demo, "learner-1")
    assert learner.status_code == 200 and "Ada Lovelace" in learner.text


def test_the_demo_keeps_its_sqlite_database_and_registration_across_restarts(
    environ: dict[str, str], tmp_path: Path
) -> None:
    ports = {"port": free_port(), "lms_port": free_port()}
    first = start_demo(environ, **ports)
    try:
        assert first.settings.database_url == f"sqlite:///{tmp_path.resolve()}/demo.sqlite3"
        assert first.url == f"http://localhost:{ports['lms_port']}/demo"
    finally:
        first.stop()
    second = start_demo(environ, **ports)
    try:
        with second.database.read_session() as session:
            count = session.scalar(
                select(func.count()).select_from(Platform).where(Platform.client_id == CLIENT_ID)
            )
        assert count == 1
        _, landed = launch(second, "learner-2")
        assert landed.status_code == 200 and "Katherine Johnson" in landed.text
    finally:
        second.stop()


def test_demo_sample_csv_and_unknown_person(demo: RunningDemo) -> None:
    sample = requests.get(demo.lms.base_url + "/demo/roster.csv", timeout=10)
    assert sample.headers["Content-Type"].startswith("text/csv")
    lines = sample.text.splitlines()
    assert lines[0] == "email,evidence_url,issued_date" and len(lines) == 6  # 4 learners + 1 bad
    unknown = requests.get(demo.lms.base_url + "/demo/course?user=nobody", timeout=10)
    assert unknown.status_code == 404 and "no such person" in unknown.text


def test_demo_refuses_production_before_opening_any_port(tmp_path: Path) -> None:
    with socket.socket() as busy:  # a taken port: refusing must come first, not an OSError
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**PRODUCTION, "MICROCRED_INSTANCE_PATH": str(tmp_path)}
        with pytest.raises(DemoRefused, match="MICROCRED_ENV=production"):
            start_demo(env, port=port, lms_port=port)
    assert not (tmp_path / "demo.sqlite3").exists()


@pytest.mark.parametrize(
    ("env_url", "option_url"),
    [
        ("postgresql://postgres@127.0.0.1:5432/microcred", None),
        (None, "postgresql://postgres@127.0.0.1:5432/microcred"),
    ],
)
def test_demo_refuses_a_postgresql_database(
    environ: dict[str, str], env_url: str | None, option_url: str | None
) -> None:
    if env_url:
        environ["MICROCRED_DATABASE_URL"] = env_url
    with pytest.raises(DemoRefused, match="only on its own SQLite database"):
        start_demo(environ, port=0, lms_port=0, database_url=option_url)


def test_cli_demo_refuses_production(tmp_path: Path) -> None:
    env = {**PRODUCTION, "MICROCRED_INSTANCE_PATH": str(tmp_path)}
    result = CliRunner().invoke(main, ["demo", "--port", "0", "--lms-port", "0"], env=env)
    assert result.exit_code == 2
    assert "demo refused" in result.output and "production" in result.output


def test_a_busy_lms_port_stops_the_demo_cleanly(environ: dict[str, str]) -> None:
    tool_port = free_port()
    with socket.socket() as busy:
        busy.bind(("localhost", 0))
        busy.listen()
        with pytest.raises(OSError, match="cannot listen on localhost"):
            start_demo(environ, port=tool_port, lms_port=busy.getsockname()[1])
    with socket.socket() as again:  # the tool's port was released
        again.bind(("127.0.0.1", tool_port))
