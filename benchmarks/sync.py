"""Sync benchmark: N awards delivered to a local Standard Webhooks receiver that fails 20 %
of first attempts, by the embedded runner (a ``microcred worker`` process with 2 threads,
as ``microcred serve`` starts it) and then by Celery (2 real ``celery worker`` processes on
Redis at 127.0.0.1:6379 plus ``microcred worker`` in Celery mode as the sweeper), through
the real outbox, engine and webhook connector. This process only makes the awards.

Each runner gets a fresh database. The receiver runs in its own process (so its HMAC
verification does not share our GIL); it verifies every request with ``standardwebhooks``,
answers 500 to the first attempt of a seeded 20 % of the webhook-ids, dedupes by webhook-id
and reports what it applied. Awards go through ``awards.award`` in transactions of
``--batch`` awards (outbox listener installed and, unless ``--no-credentials``, the OB 3.0
issuer, so every payload carries the signed credential); they are made while the runner
runs, or all before it starts with ``--prefill``.

Printed per runner: deliveries/s, lag from the award's commit to its delivery (p50, p99,
max), lost (awards the receiver never applied), sent twice (the same webhook-id answered 2xx
twice) and applied twice (deliveries with two applied ``delivered`` outcomes).

    python -m benchmarks.sync [--awards 10000] [--runner embedded|celery|both]
        [--threads 2] [--worker-processes 1] [--claim 50] [--celery-workers 2]
        [--celery-concurrency 1] [--batch 100] [--fail 0.2] [--delay-scale 0.0001]
        [--prefill] [--no-credentials] [--database-url postgresql://127.0.0.1/mc_h7_bench]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from lti_tool.settings import Settings

SECRET = "whsec_" + base64.b64encode(b"benchmark-secret-32-bytes-long!!").decode()


# -- the receiver (separate process) ------------------------------------------------------


def _receiver(port_out: Any, fail: float) -> None:
    from standardwebhooks import Webhook

    verifier = Webhook(SECRET)
    rng = random.Random(7)
    lock = threading.Lock()
    state: dict[str, Any] = {
        "attempted": set(),
        "applied": {},
        "ok_ids": {},
        "requests": 0,
        "failed": 0,
        "bad": 0,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                report = {
                    "requests": state["requests"],
                    "failed": state["failed"],
                    "bad": state["bad"],
                    "applied": state["applied"],
                    "duplicates_received": sum(n - 1 for n in state["ok_ids"].values()),
                }
            self._send(200, json.dumps(report).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = verifier.verify(body, headers)
            except Exception:
                with lock:
                    state["bad"] += 1
                self._send(401)
                return
            msg_id = headers["webhook-id"]
            with lock:
                state["requests"] += 1
                first = msg_id not in state["attempted"]
                state["attempted"].add(msg_id)
                if first and rng.random() < fail:
                    state["failed"] += 1
                    status = 500
                else:
                    status = 204
                    state["ok_ids"][msg_id] = state["ok_ids"].get(msg_id, 0) + 1
                    if msg_id not in state["applied"]:  # dedupe: apply once
                        state["applied"][msg_id] = [payload["data"]["award_id"], time.time()]
            self._send(status)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


# -- one run ------------------------------------------------------------------------------


class Run:
    """A fresh database with N learners, one webhook connection to a fresh receiver."""

    def __init__(self, args: argparse.Namespace, label: str) -> None:
        from lti_tool import migrate
        from lti_tool.credentials import issuance
        from lti_tool.credentials.achievements import create_achievement
        from lti_tool.db import Database
        from lti_tool.models import Base, User
        from lti_tool.platforms import add_platform
        from lti_tool.secretbox import SecretBox
        from lti_tool.settings import load_settings
        from lti_tool.sync import install
        from lti_tool.sync.connections import add_connection

        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix=f"microcred-sync-bench-{label}-"))
        self.queue = f"microcred-sync-bench-{os.getpid()}-{label}"
        self.settings = load_settings(
            {},
            database_url=args.database_url or f"sqlite:///{self.tmp / 'bench.db'}",
            instance_path=str(self.tmp),
            public_url="https://tool.bench",
            secret_key="benchmark-secret-key-" + "x" * 32,
            sync_delay_scale=args.delay_scale,
            sync_poll_interval=0.05,
            sync_batch=args.claim,
            sync_broker_url=args.redis_url,
            sync_celery_queue=self.queue,
        )
        database = Database(self.settings.database_url)
        if not database.is_sqlite:
            with database.engine.begin() as conn:
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        migrate.upgrade(database)
        self.database = database

        ports: Any = multiprocessing.Queue()
        self.receiver = multiprocessing.Process(
            target=_receiver, args=(ports, args.fail), daemon=True
        )
        self.receiver.start()
        self.url = f"http://127.0.0.1:{ports.get(timeout=10)}/hooks"

        box = SecretBox(self.settings.secret_key)
        with database.session() as session:
            platform, _ = add_platform(
                session,
                issuer="https://lms.bench",
                client_id="bench",
                auth_login_url="https://lms.bench/auth",
                auth_token_url="https://lms.bench/token",  # noqa: S106 - a URL
                key_set_url="https://lms.bench/jwks",
                deployment_ids=["1"],
            )
            achievement = create_achievement(
                session,
                platform,
                {
                    "name": "Benchmarking",
                    "description": "Runs benchmarks.",
                    "criteria_narrative": "x",
                },
                actor="admin:bench",
            )
            session.execute(
                insert(User),
                [
                    {
                        "platform_id": platform.id,
                        "sub": f"u{i}",
                        "name": f"User {i}",
                        "email": f"u{i}@example.edu",
                        "hr_ids": {"employee_id": f"E{i}"},
                    }
                    for i in range(args.awards)
                ],
            )
            add_connection(
                session,
                box,
                platform_id=platform.id,
                connector="webhook",
                name="bench",
                settings={"url": self.url, "timeout": 10},
                secrets={"secrets": [SECRET]},
                identity_mapping="hr_id:employee_id",
            )
            self.achievement_id = achievement.id
            self.user_ids = list(session.scalars(select(User.id).order_by(User.id)))
        install()  # the outbox listener
        if not args.no_credentials:  # every award gets its signed OB 3.0 credential
            issuance.install(
                issuance.CredentialIssuer(
                    issuance.IssuanceConfig(public_url=self.settings.public_url, box=box)
                )
            )
        self.committed: dict[int, float] = {}
        self.made_in = 0.0

    def make_awards(self) -> None:
        """The awards, in transactions of ``--batch`` (the path the app's pages use)."""
        from lti_tool.credentials import awards
        from lti_tool.models import Achievement, User

        started = time.time()
        for offset in range(0, len(self.user_ids), self.args.batch):
            with self.database.session() as session:
                achievement = session.get_one(Achievement, self.achievement_id)
                made = []
                for user_id in self.user_ids[offset : offset + self.args.batch]:
                    award, _ = awards.award(
                        session,
                        achievement,
                        session.get_one(User, user_id),
                        source="bulk",
                        actor="admin:bench",
                    )
                    made.append(award.id)
            now = time.time()
            self.committed.update((award_id, now) for award_id in made)
        self.made_in = time.time() - started

    def wait(self) -> float:
        """Until every delivery is final (or the timeout); returns when that happened."""
        from lti_tool.models import Delivery
        from lti_tool.models.sync import DEAD, DELIVERED

        deadline = time.time() + self.args.timeout
        while time.time() < deadline:
            with self.database.read_session() as session:
                final = session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.status.in_((DELIVERED, DEAD)))
                )
            if final == self.args.awards:
                break
            time.sleep(0.1)
        return time.time()

    def report(self, runner: str, started: float, finished: float, prefill: bool) -> bool:
        from lti_tool.models import Delivery, DeliveryAttempt

        with urllib.request.urlopen(self.url.replace("/hooks", "/stats"), timeout=10) as response:
            stats = json.load(response)
        self.receiver.terminate()
        with self.database.read_session() as session:
            counts = dict(
                session.execute(
                    select(Delivery.status, func.count()).group_by(Delivery.status)
                ).all()
            )
            # Outcomes applied twice to one delivery (the engine's own exactly-once check).
            twice = session.scalar(
                select(func.count()).select_from(
                    select(DeliveryAttempt.delivery_id)
                    .where(DeliveryAttempt.outcome == "delivered", DeliveryAttempt.applied)
                    .group_by(DeliveryAttempt.delivery_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
        self.database.dispose()
        applied = stats["applied"]
        lags = sorted(at - self.committed[int(award_id)] for award_id, at in applied.values())
        lost = self.args.awards - len({award_id for award_id, _ in applied.values()})
        last = max((at for _, at in applied.values()), default=finished)
        elapsed = last - started
        when = "before the runner started" if prefill else "while delivering"
        print(f"--- {runner} runner")
        print(f"database            {self.settings.database_url.split(':', 1)[0]}")
        print(
            f"awards              {self.args.awards} (batches of {self.args.batch}, "
            f"{'with' if not self.args.no_credentials else 'without'} signed credentials, "
            f"made in {self.made_in:.1f} s {when})"
        )
        print(
            f"receiver            {stats['requests']} verified requests, {stats['failed']} "
            f"answered 500 ({self.args.fail:.0%} of first attempts), {stats['bad']} bad "
            "signatures"
        )
        print(f"delivery states     {counts}")
        what = "runner start" if prefill else "first award"
        print(
            f"throughput          {len(applied) / elapsed:.0f} deliveries/s "
            f"({len(applied)} in {elapsed:.1f} s, {what} -> last delivery)"
        )
        if lags:
            p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            print(
                f"lag award->applied  p50 {statistics.median(lags) * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms"
            )
        print(f"lost                {lost}")
        print(f"sent twice          {stats['duplicates_received']} (same webhook-id, 2xx twice)")
        print(f"applied twice       {twice} (deliveries with two applied 'delivered' outcomes)")
        sys.stdout.flush()
        return lost == 0 and not twice


def _environment(run: Run, args: argparse.Namespace, runner: str) -> dict[str, str]:
    """What a worker process of this run is configured with (as an operator would)."""
    return {
        **os.environ,
        "MICROCRED_DATABASE_URL": run.settings.database_url,
        "MICROCRED_SECRET_KEY": run.settings.secret_key,
        "MICROCRED_PUBLIC_URL": run.settings.public_url,
        "MICROCRED_INSTANCE_PATH": str(run.tmp),
        "MICROCRED_SYNC_RUNNER": runner,
        "MICROCRED_SYNC_BROKER_URL": args.redis_url,
        "MICROCRED_SYNC_CELERY_QUEUE": run.queue,
        "MICROCRED_SYNC_DELAY_SCALE": str(args.delay_scale),
        "MICROCRED_SYNC_BATCH": str(args.claim),
        "MICROCRED_SYNC_POLL_INTERVAL": "0.05",
        "MICROCRED_LOG_LEVEL": "WARNING",
    }


def _start_worker(env: dict[str, str], threads: int) -> subprocess.Popen[str]:
    """`microcred worker` (what `microcred serve` runs beside the web server), once it says
    it is running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lti_tool.cli", "worker", "--threads", str(threads)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("Worker running"):
        process.kill()
        raise SystemExit(f"microcred worker did not start: {line!r}")
    return process


def _stop(processes: list[subprocess.Popen[Any]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def run_embedded(args: argparse.Namespace) -> bool:
    run = Run(args, "embedded")
    env = _environment(run, args, "embedded")
    if args.prefill:
        run.make_awards()
    workers = [_start_worker(env, args.threads) for _ in range(args.worker_processes)]
    started = time.time()
    if not args.prefill:
        run.make_awards()
    finished = run.wait()
    _stop(workers)
    label = f"embedded ({args.worker_processes} microcred worker x {args.threads} thread(s))"
    return run.report(label, started, finished, args.prefill)


def run_celery(args: argparse.Namespace) -> bool:
    run = Run(args, "celery")
    env = _environment(run, args, "celery")
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "lti_tool.sync.celery_app",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(args.celery_concurrency),
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"bench{n}@%h",
            ],
            env=env,
            stdout=subprocess.DEVNULL,  # the start-up banner; errors go to stderr
        )
        for n in range(args.celery_workers)
    ]
    time.sleep(3)  # let the workers connect to Redis
    if args.prefill:
        run.make_awards()
    sweeper = _start_worker(env, 1)  # `microcred worker` in Celery mode: the sweeper
    started = time.time()
    if not args.prefill:
        run.make_awards()
    finished = run.wait()
    _stop([sweeper, *workers])
    label = f"celery ({args.celery_workers} worker(s) x {args.celery_concurrency} thread(s))"
    return run.report(label, started, finished, args.prefill)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--awards", type=int, default=10_000)
    parser.add_argument("--runner", choices=("embedded", "celery", "both"), default="both")
    parser.add_argument("--threads", type=int, default=2, help="embedded runner threads")
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="`microcred worker` processes of the embedded runner (serve starts one)",
    )
    parser.add_argument(
        "--claim",
        type=int,
        default=Settings.sync_batch,
        help="deliveries an embedded worker claims per step, and a Celery task carries "
        "(default: MICROCRED_SYNC_BATCH's default)",
    )
    parser.add_argument("--celery-workers", type=int, default=2)
    parser.add_argument("--celery-concurrency", type=int, default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--batch", type=int, default=100, help="awards per transaction")
    parser.add_argument("--fail", type=float, default=0.2)
    parser.add_argument("--delay-scale", type=float, default=0.0001)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--no-credentials", action="store_true", help="skip OB 3.0 signing")
    parser.add_argument(
        "--prefill",
        action="store_true",
        help="make every award before starting the runner (pure delivery throughput; the "
        "lag then includes the time spent making awards)",
    )
    args = parser.parse_args()
    ok = True
    if args.runner in ("embedded", "both"):
        ok = run_embedded(args) and ok
    if args.runner in ("celery", "both"):
        ok = run_celery(args) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
