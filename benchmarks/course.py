"""A course for the benchmarks: the real app (``create_app``) on a migrated database, served
on loopback, and the built-in test LMS (``lti_tool.testplatform``) with a big roster.

Launches go through real LTI 1.3 messages (login, the platform's signed id_token, launch);
in-LMS pages are then requested in-process with Flask's test client, which runs the whole
WSGI app (listeners, session lookup, templates). The served copy of the app answers the
platform's calls back to the tool (its JWKS, to check our NRPS token requests).
"""

from __future__ import annotations

import logging
import re
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select, text
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from lti_tool import migrate
from lti_tool.app import create_app
from lti_tool.db import Database
from lti_tool.keys import ensure_keys
from lti_tool.models import Platform
from lti_tool.platforms import add_platform
from lti_tool.secretbox import SecretBox
from lti_tool.settings import load_settings
from lti_tool.sync.connections import add_connection
from lti_tool.testplatform import ROLE_INSTRUCTOR, ROLE_LEARNER, TestPlatform

SECRET_KEY = "benchmark-secret-key-" + "b" * 32
WEBHOOK_SECRET = "whsec_YmVuY2htYXJrLXNlY3JldC0zMi1ieXRlcy1sb25nISE="  # noqa: S105 - loopback only
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
PAGE_URL = re.compile(r'id="page-url" data-url="([^"]+)"')
TEACHER = "teacher-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def learner_sub(i: int) -> str:
    return f"learner-{i:05d}"


def empty_database(url: str | None, workdir: Path, *, reset: bool) -> Database:
    """A migrated database: a new SQLite file, or the given URL (refused when it holds tables,
    unless ``reset``: then every table is dropped first)."""
    database = Database(url or f"sqlite:///{workdir / 'bench.sqlite3'}")
    if url:
        with database.engine.begin() as conn:
            tables = inspect(conn).get_table_names()
            if tables and not reset:
                database.dispose()
                raise SystemExit(f"{url} is not empty ({len(tables)} tables): pass --reset")
            for table in tables:
                conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    migrate.upgrade(database)
    return database


@dataclass
class Visitor:
    """One launched person: their tool-session token and the test client."""

    client: FlaskClient
    token: str
    base_url: str

    def get(self, path: str, **query: Any) -> TestResponse:
        return self.client.get(
            path, query_string={"s": self.token, **query}, base_url=self.base_url
        )

    def post(self, path: str, data: dict[str, Any], csrf_from: str) -> TestResponse:
        page = self.get(csrf_from).get_data(as_text=True)
        match = CSRF.search(page)
        if match is None:
            raise RuntimeError(f"no CSRF token on {csrf_from}")
        return self.client.post(
            path,
            query_string={"s": self.token},
            data={**data, "csrf": match.group(1)},
            base_url=self.base_url,
        )


@dataclass
class Course:
    app: Flask
    database: Database
    lms: TestPlatform
    tool_url: str
    platform_id: int

    def launch(self, sub: str) -> Visitor:
        """A real LTI 1.3 launch of ``sub``: login, the platform's id_token, launch."""
        client = self.app.test_client()
        login = client.get(
            "/lti/login", query_string=self.lms.login_params(sub), base_url=self.tool_url
        )
        if login.status_code != 302:
            raise RuntimeError(f"login refused: {login.status_code}")
        answer = self.lms.authorize(login.location)
        landed = client.post(
            "/lti/launch",
            data={"id_token": answer["id_token"], "state": answer["state"]},
            base_url=self.tool_url,
        )
        match = PAGE_URL.search(landed.get_data(as_text=True))
        if landed.status_code != 200 or match is None:
            raise RuntimeError(f"launch refused: {landed.status_code}")
        token = parse_qs(urlsplit(match.group(1).replace("&amp;", "&")).query)["s"][0]
        return Visitor(client, token, self.tool_url)

    def create_achievement(self, teacher: Visitor, name: str) -> int:
        response = teacher.post(
            "/app/instructor/achievements/new",
            {
                "name": name,
                "description": f"Shows {name}.",
                "criteria_narrative": f"Complete {name}.",
                "alignment_count": "1",
            },
            csrf_from="/app/instructor/achievements/new",
        )
        match = re.search(r"/achievements/(\d+)", response.location or "")
        if response.status_code != 303 or match is None:
            raise RuntimeError(f"could not create an achievement: {response.status_code}")
        return int(match.group(1))


@contextmanager
def open_course(
    database_url: str | None, *, learners: int, page_size: int = 100, reset: bool = False
) -> Iterator[Course]:
    """The tool and a test LMS whose course has ``learners`` learners and one teacher, and
    one enabled webhook connection (so every award also writes its outbox row)."""
    with tempfile.TemporaryDirectory(prefix="microcred-bench-") as tmp:
        workdir = Path(tmp)
        database = empty_database(database_url, workdir, reset=reset)
        port = free_port()
        settings = load_settings(
            {},
            database_url=database.url,
            public_url=f"http://127.0.0.1:{port}",
            secret_key=SECRET_KEY,
            instance_path=str(workdir),
            sync_runner="embedded",
        )
        app = create_app(settings, database=database)
        box = SecretBox(SECRET_KEY)
        with database.session() as session:
            ensure_keys(session, box)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
        thread.daemon = True
        thread.start()
        lms = TestPlatform(tool_url=settings.public_url).serve()
        lms.nrps_page_size = page_size
        lms.add_member(TEACHER, "Grace Hopper", [ROLE_INSTRUCTOR])
        for i in range(learners):
            lms.add_member(learner_sub(i), f"Learner {i:05d}", [ROLE_LEARNER])
        try:
            with database.session() as session:
                add_platform(session, **lms.registration())
                platform_id = session.scalars(
                    select(Platform.id).where(Platform.issuer == lms.issuer)
                ).one()
                add_connection(
                    session,
                    box,
                    platform_id=platform_id,
                    connector="webhook",
                    name="hr-webhook",
                    # Nothing listens there: no worker runs, the rows stay pending.
                    settings={"url": f"http://127.0.0.1:{free_port()}/hooks", "timeout": 5.0},
                    secrets={"secrets": [WEBHOOK_SECRET]},
                )
            yield Course(app, database, lms, settings.public_url, platform_id)
        finally:
            lms.stop()
            server.shutdown()
            server.server_close()
            database.dispose()
