"""Sync benchmark: N awards delivered to a local Standard Webhooks receiver that fails 20 %
of first attempts, by the embedded runner (2 threads by default), through the real outbox,
engine and webhook connector.

The receiver runs in its own process (so its HMAC verification does not share our GIL); it
verifies every request with ``standardwebhooks``, answers 500 to the first attempt of a
seeded 20 % of the webhook-ids, dedupes by webhook-id and reports what it applied. Awards
are made while the runner runs, in transactions of ``--batch`` awards each (the same
``awards.award`` path the app uses, outbox listener installed).

Printed: deliveries/s (first award committed -> last delivery recorded), lag from the award's
commit to its delivery (p50, p99, max), lost (awards the receiver never applied),
duplicates received (the same webhook-id answered 2xx twice) and duplicates applied
(must be 0: the receiver dedupes).

    python -m benchmarks.sync [--awards 10000] [--threads 2] [--batch 100]
        [--fail 0.2] [--delay-scale 0.0001] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

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


# -- the benchmark ------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--awards", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--fail", type=float, default=0.2)
    parser.add_argument("--delay-scale", type=float, default=0.0001)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--prefill",
        action="store_true",
        help="make every award before starting the runner (pure delivery throughput; the "
        "lag then includes the time spent making awards)",
    )
    args = parser.parse_args()

    from lti_tool import migrate
    from lti_tool.credentials import awards
    from lti_tool.credentials.achievements import create_achievement
    from lti_tool.db import Database
    from lti_tool.models import Achievement, Base, Delivery, User
    from lti_tool.models.sync import DEAD, DELIVERED
    from lti_tool.platforms import add_platform
    from lti_tool.secretbox import SecretBox
    from lti_tool.settings import load_settings
    from lti_tool.sync import install
    from lti_tool.sync.connections import add_connection
    from lti_tool.sync.engine import Engine
    from lti_tool.sync.runner import EmbeddedRunner

    tmp = Path(tempfile.mkdtemp(prefix="microcred-sync-bench-"))
    settings = load_settings(
        {},
        database_url=args.database_url or f"sqlite:///{tmp / 'bench.db'}",
        instance_path=str(tmp),
        public_url="https://tool.bench",
        secret_key="benchmark-secret-key-" + "x" * 32,
        sync_delay_scale=args.delay_scale,
        sync_poll_interval=0.05,
    )
    database = Database(settings.database_url)
    if not database.is_sqlite:
        with database.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    migrate.upgrade(database)

    ports: Any = multiprocessing.Queue()
    receiver = multiprocessing.Process(target=_receiver, args=(ports, args.fail), daemon=True)
    receiver.start()
    url = f"http://127.0.0.1:{ports.get(timeout=10)}/hooks"

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
            {"name": "Benchmarking", "description": "Runs benchmarks.", "criteria_narrative": "x"},
            actor="admin:bench",
        )
        session.execute(
            insert(User),
            [
                {"platform_id": platform.id, "sub": f"u{i}", "name": f"User {i}", "hr_ids": {}}
                for i in range(args.awards)
            ],
        )
        add_connection(
            session,
            SecretBox(settings.secret_key),
            platform_id=platform.id,
            connector="webhook",
            name="bench",
            settings={"url": url, "timeout": 10},
            secrets={"secrets": [SECRET]},
        )
        achievement_id = achievement.id
        user_ids = list(session.scalars(select(User.id).order_by(User.id)))

    install()
    runner = EmbeddedRunner(Engine(database, settings), threads=args.threads, poll_interval=0.05)
    if not args.prefill:
        runner.start()
    committed: dict[int, float] = {}
    started = made_from = time.time()
    for offset in range(0, len(user_ids), args.batch):
        with database.session() as session:
            achievement_row = session.get_one(Achievement, achievement_id)
            made = []
            for user_id in user_ids[offset : offset + args.batch]:
                award, _ = awards.award(
                    session,
                    achievement_row,
                    session.get_one(User, user_id),
                    source="bulk",
                    actor="admin:bench",
                )
                made.append(award.id)
        now = time.time()
        committed.update((award_id, now) for award_id in made)
    produced = time.time()
    if args.prefill:
        started = produced
        runner.start()

    deadline = time.time() + args.timeout
    while time.time() < deadline:
        with database.read_session() as session:
            final = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status.in_((DELIVERED, DEAD)))
            )
        if final == args.awards:
            break
        time.sleep(0.2)
    finished = time.time()
    runner.stop()

    with urllib.request.urlopen(url.replace("/hooks", "/stats"), timeout=10) as response:
        report = json.load(response)
    receiver.terminate()
    with database.read_session() as session:
        counts = dict(
            session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        )
        last = session.scalar(select(func.max(Delivery.delivered_at)))
    database.dispose()

    applied = report["applied"]
    lags = sorted(at - committed[int(award_id)] for award_id, at in applied.values())
    lost = args.awards - len({award_id for award_id, _ in applied.values()})
    elapsed = (last.timestamp() if last else finished) - started
    print(f"database            {settings.database_url.split(':', 1)[0]}")
    when = "before the runner started" if args.prefill else "while delivering"
    print(
        f"awards              {args.awards} (batches of {args.batch}, made in "
        f"{produced - made_from:.1f} s {when})"
    )
    print(f"runner              embedded, {args.threads} thread(s), delay scale {args.delay_scale}")
    print(
        f"receiver            {report['requests']} verified requests, {report['failed']} "
        f"answered 500 ({args.fail:.0%} of first attempts), {report['bad']} bad signatures"
    )
    print(f"delivery states     {counts}")
    print(
        f"throughput          {len(applied) / elapsed:.0f} deliveries/s "
        f"({len(applied)} in {elapsed:.1f} s)"
    )
    if lags:
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(
            f"lag award->applied  p50 {statistics.median(lags) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms"
        )
    print(f"lost                {lost}")
    print(f"duplicates received {report['duplicates_received']} (same webhook-id, 2xx twice)")
    print("duplicates applied  0 (the receiver dedupes by webhook-id)")
    sys.exit(0 if lost == 0 else 1)


if __name__ == "__main__":
    main()
