"""Closed-loop load generator for LTI 1.3 login + launch flows (used by `benchmarks.launch`).

Each generator process runs a few threads; each thread owns one keep-alive HTTP connection
(`http.client`, TCP_NODELAY) and runs flows back to back, as a fresh browser each time (no
cookies carried from one flow to the next). The generator also plays the platform: it signs
a real RS256 id_token for the nonce the tool issued, with `TestPlatform.claims_for`/`sign`
and a private key object loaded once per process.

A process reports its flows and its own CPU time (getrusage) over the measured window, so
the caller can show that the generator is not the bottleneck.
"""

from __future__ import annotations

import http.client
import resource
import socket
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lti_tool.testplatform import TestPlatform
from lti_tool.testplatform.platform import LTI, ROLE_LEARNER, SigningKey


@dataclass(frozen=True)
class Target:
    """Where the flows go and what a successful one looks like."""

    tool: str  # label: "microcred" or "pylti1.3-flask-example"
    server: str  # label: "gunicorn -w2", "dev server", ...
    host: str
    port: int
    login_path: str
    launch_path: str
    target_link_uri: str
    # Extra login parameters (the peer's cookie-check page is skipped with lti1p3_new_window).
    login_extra: tuple[tuple[str, str], ...] = ()
    # True for a tool that answers the launch with 303 to a landing page (then fetched and
    # checked); both tools here render the landing page in the launch response itself.
    follow_landing: bool = False


@dataclass(frozen=True)
class PlatformSpec:
    """What a generator process needs to act as the platform (picklable)."""

    issuer: str
    client_id: str
    deployment_id: str
    base_url: str
    tool_url: str
    kid: str
    private_pem: bytes
    members: tuple[tuple[str, str], ...]  # (sub, name)

    @classmethod
    def of(cls, platform: TestPlatform) -> PlatformSpec:
        key = platform.keys[0]
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        members = tuple((m.sub, m.name) for m in platform.members.values())
        return cls(
            platform.issuer,
            platform.client_id,
            platform.deployment_id,
            platform.base_url,
            platform.tool_url,
            key.kid,
            pem,
            members,
        )

    def platform(self) -> TestPlatform:
        private_key = serialization.load_pem_private_key(self.private_pem, password=None)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        platform = TestPlatform(
            tool_url=self.tool_url,
            issuer=self.issuer,
            client_id=self.client_id,
            deployment_id=self.deployment_id,
            keys=[SigningKey(self.kid, private_key)],
            base_url=self.base_url,
        )
        for sub, name in self.members:
            platform.add_member(sub, name, [ROLE_LEARNER])
        return platform


@dataclass(frozen=True)
class Job:
    target: Target
    platform: PlatformSpec
    threads: int
    first_thread: int  # global index of this process's first thread
    concurrency: int  # total threads over all processes
    warmup: float
    duration: float
    timeout: float = 30.0


@dataclass
class Flow:
    done_at: float  # time.monotonic() at the end of the flow
    total: float  # seconds, login -> launch -> landing (or login -> launch for the peer)
    login_launch: float  # seconds, login + launch only (comparable between tools)
    ok: bool
    error: str = ""


@dataclass
class ProcessReport:
    flows: list[Flow] = field(default_factory=list)
    cpu_seconds: float = 0.0  # this process, over the measured window
    window: tuple[float, float] = (0.0, 0.0)
    setup_error: str = ""


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class FlowError(Exception):
    pass


class Browser:
    """One keep-alive connection; cookies live for one flow only."""

    def __init__(self, target: Target, timeout: float) -> None:
        self._target = target
        self._timeout = timeout
        self._conn = _Connection(target.host, target.port, timeout=timeout)

    def close(self) -> None:
        self._conn.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        all_headers = {"Host": f"{self._target.host}:{self._target.port}"}
        if headers:
            all_headers.update(headers)
        for attempt in (1, 2):
            try:
                self._conn.request(method, path, body=body, headers=all_headers)
                response = self._conn.getresponse()
                data = response.read()
                if response.will_close:
                    self._conn.close()
                return response.status, response.msg, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self._conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _cookies(message: http.client.HTTPMessage) -> dict[str, str]:
    jar: dict[str, str] = {}
    for header in message.get_all("Set-Cookie") or []:
        name, _, value = header.split(";", 1)[0].partition("=")
        jar[name.strip()] = value.strip()
    return jar


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def run_flow(browser: Browser, target: Target, platform: TestPlatform, sub: str) -> Flow:
    """login -> (platform signs) -> launch [-> landing page]; raises FlowError on a failure."""
    start = time.monotonic()
    params = platform.login_params(sub, target=target.target_link_uri)
    params.update(target.login_extra)
    status, message, body = browser.request("GET", target.login_path + "?" + urlencode(params))
    if status != 302:
        raise FlowError(f"login {status}")
    query = parse_qs(urlsplit(message.get("Location", "")).query)
    try:
        state, nonce = query["state"][0], query["nonce"][0]
    except (KeyError, IndexError):
        raise FlowError("login redirect without state/nonce") from None
    jar = _cookies(message)

    claims = platform.claims_for(sub, nonce)
    claims[LTI + "target_link_uri"] = target.target_link_uri
    id_token = platform.sign(claims)

    form = urlencode({"id_token": id_token, "state": state}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if jar:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    status, message, body = browser.request("POST", target.launch_path, form, headers)
    login_launch = time.monotonic() - start
    name = platform.members[sub].name.encode()
    if target.follow_landing:
        if status != 303:
            raise FlowError(f"launch {status}")
        status, message, body = browser.request("GET", _path(message.get("Location", "")))
        if status != 200:
            raise FlowError(f"landing {status}")
        if name not in body:
            raise FlowError("landing page without the learner's name")
    else:
        if status != 200:
            raise FlowError(f"launch {status}")
        if name not in body:
            raise FlowError("launch page without the learner's name")
    end = time.monotonic()
    return Flow(end, end - start, login_launch, True)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def generator_process(job: Job, conn: Connection) -> None:
    """Entry point of one generator process: ready -> wait for the start time -> run -> report."""
    report = ProcessReport()
    try:
        platform = job.platform.platform()
        subs = [sub for sub, _ in job.platform.members]
        browsers = [Browser(job.target, job.timeout) for _ in range(job.threads)]
    except Exception as exc:  # reported to the parent, which prints it
        report.setup_error = repr(exc)
        conn.send(("ready", None))
        conn.recv()
        conn.send(report)
        return
    conn.send(("ready", None))
    t_go: float = conn.recv()
    warm_end = t_go + job.warmup
    end = warm_end + job.duration
    report.window = (warm_end, end)
    results: list[list[Flow]] = [[] for _ in range(job.threads)]

    def loop(index: int) -> None:
        browser, out = browsers[index], results[index]
        n = job.first_thread + index
        while True:
            now = time.monotonic()
            if now >= end:
                break
            sub = subs[n % len(subs)]
            n += job.concurrency
            try:
                flow = run_flow(browser, job.target, platform, sub)
            except FlowError as exc:
                flow = Flow(time.monotonic(), time.monotonic() - now, 0.0, False, str(exc))
            except (OSError, http.client.HTTPException) as exc:
                browser.close()
                error = type(exc).__name__
                flow = Flow(time.monotonic(), time.monotonic() - now, 0.0, False, error)
            out.append(flow)

    while time.monotonic() < t_go:
        time.sleep(0.005)
    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(job.threads)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, warm_end - time.monotonic()))
    cpu_start = _cpu()
    time.sleep(max(0.0, end - time.monotonic()))
    report.cpu_seconds = _cpu() - cpu_start
    for thread in threads:
        thread.join(job.timeout)
    for browser in browsers:
        browser.close()
    report.flows = [f for out in results for f in out if warm_end <= f.done_at <= end]
    conn.send(report)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarize(flows: list[Flow], seconds: float) -> dict[str, Any]:
    good = [f for f in flows if f.ok]
    errors: dict[str, int] = {}
    for f in flows:
        if not f.ok:
            errors[f.error] = errors.get(f.error, 0) + 1
    totals = [f.total for f in good]
    ll = [f.login_launch for f in good]
    return {
        "launches": len(good),
        "rate": len(good) / seconds if seconds else 0.0,
        "p50": percentile(totals, 50),
        "p90": percentile(totals, 90),
        "p99": percentile(totals, 99),
        "ll_p50": percentile(ll, 50),
        "ll_p99": percentile(ll, 99),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }
