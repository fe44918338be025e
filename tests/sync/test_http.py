"""The workers' HTTP session still honours the environment's proxy settings, reading them
once per target origin (lti_tool/sync/http.py). Real loopback servers: one plays an HTTP
proxy (it sees absolute request URLs), one plays the target."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from connectors.testing import LocalServer, QuietHandler
from lti_tool.sync.http import WorkerSession

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class Recorder:
    """A loopback server that records each request line and answers with its own name."""

    name: str
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorder = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                recorder.lines.append(self.requestline)
                self.reply(200, recorder.name.encode())

        self.server = LocalServer(Handler)
        self.url = self.server.base_url


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, Recorder, Recorder]]:
    made = (Recorder("proxy"), Recorder("other proxy"), Recorder("target"))
    yield made
    for recorder in made:
        recorder.server.close()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_the_environment_proxy_is_used(
    servers: tuple[Recorder, Recorder, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, _, _ = servers
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with WorkerSession() as http:
        answer = http.get("http://hr.example.test/people/7", timeout=5)
    assert answer.text == "proxy"
    assert proxy.lines == ["GET http://hr.example.test/people/7 HTTP/1.1"]


def test_no_proxy_sends_the_request_direct(
    servers: tuple[Recorder, Recorder, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, _, target = servers
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with WorkerSession() as http:
        assert http.get(f"{target.url}/hooks", timeout=5).text == "target"
    assert proxy.lines == []
    assert target.lines == ["GET /hooks HTTP/1.1"]


def test_the_environment_is_read_once_per_origin(
    servers: tuple[Recorder, Recorder, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, other, _ = servers
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with WorkerSession() as http:
        assert http.get("http://a.example.test/1", timeout=5).text == "proxy"
        monkeypatch.setenv("HTTP_PROXY", other.url)
        # The same origin keeps what was read for it; a new origin reads the environment.
        assert http.get("http://a.example.test/2", timeout=5).text == "proxy"
        assert http.get("http://b.example.test/1", timeout=5).text == "other proxy"
    assert proxy.lines == [
        "GET http://a.example.test/1 HTTP/1.1",
        "GET http://a.example.test/2 HTTP/1.1",
    ]


def test_proxies_given_to_a_call_win_over_the_environment(
    servers: tuple[Recorder, Recorder, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, other, _ = servers
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with WorkerSession() as http:
        assert http.get("http://a.example.test/1", timeout=5).text == "proxy"
        answer = http.get("http://a.example.test/2", timeout=5, proxies={"http": other.url})
        assert answer.text == "other proxy"
        assert http.get("http://a.example.test/3", timeout=5).text == "proxy"


def test_an_unreachable_proxy_is_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the discard port: nothing there
    with WorkerSession() as http, pytest.raises(requests.ConnectionError):
        http.get("http://hr.example.test/", timeout=5)
