"""REST API benchmark: page through 100,000 awards changed since yesterday with
`GET /api/v1/awards?updated_since=...&limit=500`, through the real app (WSGI in process,
real OAuth token, real PostgreSQL), following `Link: rel="next"` to the end.

Seeding is a bulk `COPY` (100,000 learners and their awards, updated over the last 20 hours),
not the award service: the benchmark is about reading. Printed: server time per page (median,
p95, p99, max), rows seen, and the process RSS at the start, middle and end of paging (flat
memory means a page costs the same whether it is the first or the last).

    createdb -h 127.0.0.1 -U postgres mc_h1_bench
    python -m benchmarks.api [--awards 100000] [--limit 500]
        [--database-url postgresql://postgres@127.0.0.1:5432/mc_h1_bench]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import inspect, text

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/mc_h1_bench"
BASE = "https://bench.test"


def rss_mb() -> float:
    """Resident set size of this process now (not the peak), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _copy(raw: object, table: str, columns: str, rows: io.StringIO) -> None:
    rows.seek(0)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        while chunk := rows.read(1 << 20):
            copy.write(chunk)


def seed(database: object, awards: int) -> tuple[int, int]:
    """A tenant with one achievement and `awards` learners holding it: (platform, achievement)."""
    from lti_tool.credentials.achievements import create_achievement
    from lti_tool.models import utcnow
    from lti_tool.platforms import add_platform

    with database.session() as session:  # type: ignore[attr-defined]
        platform, _ = add_platform(
            session,
            issuer="https://lms.bench.test",
            client_id="bench",
            auth_login_url="https://lms.bench.test/auth",
            auth_token_url="https://lms.bench.test/token",  # noqa: S106 (a URL)
            key_set_url="https://lms.bench.test/jwks",
            deployment_ids=["1"],
            name="Bench LMS",
        )
        achievement = create_achievement(
            session,
            platform,
            {"name": "Bench skill", "description": "Benchmark.", "criteria_narrative": "Run."},
            actor="benchmark",
        )
        platform_id, achievement_id = platform.id, achievement.id
    now = utcnow()
    users, rows = io.StringIO(), io.StringIO()
    step = timedelta(hours=20) / awards
    for i in range(1, awards + 1):
        stamp = (now - timedelta(hours=20) + i * step).isoformat()
        users.write(
            f"{i}\t{platform_id}\tbench-{i}\tLearner {i}\t\t\tlearner{i}@bench.test\t"
            f'HR{i:06d}\t{{"employee_id": "E{i:06d}"}}\t{stamp}\t{stamp}\n'
        )
        rows.write(
            f"{i}\t{achievement_id}\t{i}\t{platform_id}\t{stamp}\tapi\tactive\t1\t{stamp}\t{stamp}\n"
        )
    engine = database.engine  # type: ignore[attr-defined]
    raw = engine.raw_connection()
    try:
        _copy(
            raw.driver_connection,
            "users",
            "id, platform_id, sub, name, given_name, family_name, email, person_sourcedid, "
            "hr_ids, created_at, updated_at",
            users,
        )
        _copy(
            raw.driver_connection,
            "awards",
            "id, achievement_id, user_id, platform_id, issued_at, source, status, version, "
            "created_at, updated_at",
            rows,
        )
        raw.driver_connection.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(text("SELECT setval('users_id_seq', (SELECT max(id) FROM users))"))
        conn.execute(text("SELECT setval('awards_id_seq', (SELECT max(id) FROM awards))"))
        conn.execute(text("ANALYZE users"))
        conn.execute(text("ANALYZE awards"))
    return platform_id, achievement_id


def _summary(values: list[float]) -> str:
    ordered = sorted(values)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"median {statistics.median(ordered):.1f} ms, p95 {pct(0.95):.1f} ms, "
        f"p99 {pct(0.99):.1f} ms, max {ordered[-1]:.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--awards", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args(argv)

    from lti_tool import migrate
    from lti_tool.api.clients import add_client
    from lti_tool.app import create_app
    from lti_tool.db import Database
    from lti_tool.models import utcnow
    from lti_tool.settings import load_settings

    instance = tempfile.mkdtemp(prefix="mc-bench-api-")
    settings = load_settings(
        {},
        database_url=args.database_url,
        public_url=BASE,
        secret_key="benchmark-secret-key-" + "x" * 32,
        instance_path=instance,
        sync_runner="none",
        api_rate_limit="100000/minute",
    )
    database = Database(settings.database_url)
    if database.is_sqlite:
        print("benchmarks.api measures PostgreSQL: give --database-url postgresql://...")
        return 2
    with database.engine.begin() as conn:  # a fresh schema every run
        for table in reversed(inspect(conn).get_table_names()):
            conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    migrate.upgrade(database)

    started = time.perf_counter()
    platform_id, _ = seed(database, args.awards)
    print(f"seeded {args.awards:,} awards in {time.perf_counter() - started:.1f} s (COPY)")
    with database.session() as session:
        _, secret = client_row = add_client(
            session, platform_id=platform_id, name="bench", scopes=["awards:read"], created_by="b"
        )
        client_id = client_row[0].client_id

    app = create_app(settings, database=database)
    http = app.test_client()
    token = http.post(
        "/api/v1/oauth/token",
        base_url=BASE,
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    since = (utcnow() - timedelta(days=1)).isoformat()
    path: str | None = f"/api/v1/awards?updated_since={since}&limit={args.limit}"
    path = path.replace("+", "%2B")

    http.get(path, base_url=BASE, headers=headers)  # warm-up: imports, pools, plans
    times: list[float] = []
    cpu: list[float] = []
    rss: dict[str, float] = {"start": rss_mb()}
    seen = 0
    pages_expected = -(-args.awards // args.limit)
    while path:
        t0, c0 = time.perf_counter(), time.thread_time()
        response = http.get(path, base_url=BASE, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        if response.status_code != 200:
            print(f"page {len(times)}: HTTP {response.status_code} {response.get_data()[:200]!r}")
            return 1
        seen += len(response.get_json())
        link = response.headers.get("Link", "")
        match = re.match(rf'<{re.escape(BASE)}(?P<p>[^>]+)>; rel="next"', link)
        path = match.group("p") if match else None
        if len(times) == pages_expected // 2:
            rss["middle"] = rss_mb()
    rss["end"] = rss_mb()

    print(f"pages: {len(times)} of {args.limit} rows; rows seen: {seen:,} of {args.awards:,}")
    print(f"server time per page (wall): {_summary(times)}  (target p99 < 50 ms)")
    print(f"app CPU per page (thread):   {_summary(cpu)}")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} on {os.cpu_count()} CPUs")
    print("RSS: start {start:.1f} MiB, middle {middle:.1f} MiB, end {end:.1f} MiB".format(**rss))
    database.dispose()
    return 0 if seen == args.awards else 1


if __name__ == "__main__":
    sys.exit(main())
