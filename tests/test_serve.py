"""`microcred serve` for real: a subprocess on the embedded default, then a launch over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from lti_tool.testplatform import ROLE_INSTRUCTOR, TestPlatform

from .support.served import free_port

MICROCRED = [sys.executable, "-m", "lti_tool.cli"]


@pytest.fixture
def served_tool(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[str]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MICROCRED_INSTANCE_PATH": str(tmp_path / "instance"),
        "MICROCRED_PUBLIC_URL": url,
    }
    env.pop("MICROCRED_DATABASE_URL", None)
    env.pop("MICROCRED_SECRET_KEY", None)
    proc = subprocess.Popen(
        [*MICROCRED, "serve", "--port", str(port), "--workers", "2", "--access-log"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=5).ok:
                break
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(
            "microcred serve did not come up:\n" + (proc.stdout.read() if proc.stdout else "")
        )
    yield url, env, proc
    proc.terminate()
    proc.wait(timeout=20)


def test_serve_migrates_prints_admin_urls_and_launches(
    served_tool: tuple[str, dict[str, str], subprocess.Popen[str]], tmp_path: Path
) -> None:
    url, env, proc = served_tool
    assert (tmp_path / "instance" / "microcred.db").exists()
    assert (tmp_path / "instance" / "secret_key").exists()
    assert len(requests.get(url + "/lti/jwks", timeout=5).json()["keys"]) == 2

    lms = TestPlatform(tool_url=url).serve()
    try:
        lms.add_member("t1", "Grace Hopper", [ROLE_INSTRUCTOR])
        added = subprocess.run(
            [
                *MICROCRED,
                "platforms",
                "add",
                "--issuer",
                lms.issuer,
                "--client-id",
                lms.client_id,
                "--auth-login-url",
                lms.auth_login_url,
                "--auth-token-url",
                lms.auth_token_url,
                "--key-set-url",
                lms.key_set_url,
                "--deployment-id",
                lms.deployment_id,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "Registered platform" in added.stdout
        browser = requests.Session()
        login = browser.get(
            url + "/lti/login", params=lms.login_params("t1"), allow_redirects=False, timeout=5
        )
        assert login.status_code == 302
        form = lms.authorize(login.headers["Location"])
        assert parse_qs(urlsplit(login.headers["Location"]).query)["state"] == [form["state"]]
        launch = browser.post(
            url + "/lti/launch",
            data={"id_token": form["id_token"], "state": form["state"]},
            timeout=5,
        )
        assert launch.status_code == 200
        assert "Grace Hopper" in launch.text and "Course credentials" in launch.text
    finally:
        lms.stop()

    proc.terminate()
    output = proc.communicate(timeout=20)[0]
    assert "Applied 1 database migration(s)" in output or "Applied" in output
    for path in (
        "/lti/register",
        "/lti/config/canvas.json",
        "/lti/login",
        "/lti/launch",
        "/lti/jwks",
    ):
        assert url + path in output
    assert "?s=" not in output  # session tokens never reach the access log
    # serve ran one background worker beside gunicorn and stopped it on the way out
    assert "Worker running" in output and "sync deliveries with 2 thread(s)" in output
    assert "Worker stopped." in output


def test_serve_stops_on_bad_settings(tmp_path: Path) -> None:
    env = {**os.environ, "MICROCRED_INSTANCE_PATH": str(tmp_path), "MICROCRED_ENV": "nope"}
    result = subprocess.run(
        [*MICROCRED, "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "configuration error: MICROCRED_ENV" in result.stderr
