"""Admin pages of the sync: connections, deliveries, attempts and their operations.

Against a real Standard Webhooks receiver on 127.0.0.1 and the real engine; checks that only
LMS administrators get in, that tenants never see each other's connections, and that
secrets are never rendered back.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from lti_tool.credentials import awards
from lti_tool.db import Database
from lti_tool.models import Achievement, Connection, Delivery, Platform, User
from lti_tool.models.sync import DEAD, DELIVERED, PENDING
from lti_tool.secretbox import SecretBox
from lti_tool.settings import Settings
from lti_tool.sync.connections import add_connection
from lti_tool.sync.engine import build_engine
from lti_tool.testplatform import TestPlatform
from tests.credentials.conftest import make_achievement
from tests.support.launcher import Launcher
from tests.sync.conftest import SECRET, Receiver

from .conftest import As, launch_as, text

NEW_SECRET = "whsec_" + base64.b64encode(b"n" * 32).decode()
BASE = "/app/admin/sync"


@pytest.fixture
def admin(launcher: Launcher) -> As:
    return launch_as(launcher, "admin-1")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([SECRET])
    yield r
    r.close()


def platform_id(database: Database, issuer: str) -> int:
    with database.read_session() as session:
        return session.scalars(select(Platform.id).where(Platform.issuer == issuer)).one()


def connection_row(database: Database, connection_id: int) -> Connection:
    with database.read_session() as session:
        row = session.get_one(Connection, connection_id)
        session.expunge(row)
        return row


def create_webhook(admin: As, url: str, name: str = "HR hooks", secret: str = SECRET) -> int:
    response = admin.post(
        f"{BASE}/connections/new",
        {
            "connector": "webhook",
            "name": name,
            "setting-url": url,
            "setting-secrets": secret,
            "setting-timeout": "5",
            "setting-include_credential": "on",
            "identity_mapping": "lti_sub",
        },
    )
    assert response.status_code == 303, text(response)
    match = re.search(r"/connections/(\d+)", response.location)
    assert match
    return int(match.group(1))


def award_learners(database: Database, pid: int, count: int = 1) -> list[int]:
    """Award a new achievement to ``count`` learners of the tenant (the outbox queues them)."""
    with database.session() as session:
        platform = session.get_one(Platform, pid)
        achievement: Achievement = make_achievement(session, platform, "Sync admin")
        made = []
        for n in range(count):
            user = User(platform_id=pid, sub=f"sync-learner-{n}", name=f"Learner {n}")
            session.add(user)
            session.flush()
            award, _ = awards.award(session, achievement, user, source="manual", actor="admin:test")
            made.append(award.id)
        return made


def drain(database: Database, settings: Settings, timeout_steps: int = 400) -> None:
    engine = build_engine(database, settings)
    with requests.Session() as http:
        for _ in range(timeout_steps):
            with database.read_session() as session:
                open_ = session.scalars(
                    select(Delivery.id).where(Delivery.status == PENDING).limit(1)
                ).first()
            if open_ is None:
                return
            engine.step("admin-test", http, limit=10)
    raise AssertionError("deliveries still pending")


def test_only_lms_administrators_get_in(launcher: Launcher, admin: As) -> None:
    home = admin.get("/app")
    assert 'data-testid="link-admin-sync"' in text(home)
    assert admin.get(BASE).status_code == 200
    for sub in ("learner-1", "teacher-1"):
        visitor = launch_as(launcher, sub)
        assert 'data-testid="link-admin-sync"' not in text(visitor.get("/app"))
        assert visitor.get(BASE).status_code == 403
        assert visitor.get(f"{BASE}/connections/new", connector="webhook").status_code == 403
        refused = visitor.post(
            f"{BASE}/connections/new",
            {
                "connector": "webhook",
                "name": "sneaky",
                "setting-url": "http://127.0.0.1:9/x",
                "setting-secrets": SECRET,
            },
        )
        assert refused.status_code == 403
    with admin.database.read_session() as session:
        assert session.scalar(select(Connection.id)) is None


def test_create_edit_and_secrets_are_never_shown(admin: As, receiver: Receiver) -> None:
    connection_id = create_webhook(admin, receiver.url)
    stored = connection_row(admin.database, connection_id)
    assert stored.settings["url"] == receiver.url
    assert "secrets" not in stored.settings and stored.secrets_encrypted
    assert SECRET.encode() not in stored.secrets_encrypted

    page = text(admin.get(f"{BASE}/connections/{connection_id}"))
    edit = text(admin.get(f"{BASE}/connections/{connection_id}/edit"))
    listing = text(admin.get(BASE))
    for html in (page, edit, listing):
        assert SECRET not in html and SECRET[6:] not in html
    assert "HR hooks" in listing and "webhook" in listing
    assert receiver.url in edit  # non-secret settings are shown back

    # Editing without typing a secret keeps it; typing one replaces it.
    form = {
        "name": "HR hooks (new)",
        "setting-url": receiver.url,
        "setting-timeout": "7",
        "identity_mapping": "email",
        "rate_limit_per_minute": "120",
        "enabled": "on",
    }
    saved = admin.post(f"{BASE}/connections/{connection_id}/edit", form)
    assert saved.status_code == 303, text(saved)
    box = SecretBox(admin.client.application.extensions["microcred"].settings.secret_key)
    row = connection_row(admin.database, connection_id)
    assert (row.name, row.identity_mapping, row.rate_limit_per_minute) == (
        "HR hooks (new)",
        "email",
        120,
    )
    assert row.settings["timeout"] == 7.0
    assert json.loads(box.decrypt(row.secrets_encrypted or b"")) == {"secrets": [SECRET]}
    saved = admin.post(
        f"{BASE}/connections/{connection_id}/edit",
        {**form, "setting-secrets": f"{NEW_SECRET}\n{SECRET}"},
    )
    assert saved.status_code == 303
    row = connection_row(admin.database, connection_id)
    assert json.loads(box.decrypt(row.secrets_encrypted or b"")) == {
        "secrets": [NEW_SECRET, SECRET]
    }
    assert NEW_SECRET not in text(admin.get(f"{BASE}/connections/{connection_id}/edit"))


def test_bad_input_is_refused_clearly_and_loses_nothing(admin: As, receiver: Receiver) -> None:
    bad_secret = "whsec_" + base64.b64encode(b"short").decode()
    response = admin.post(
        f"{BASE}/connections/new",
        {
            "connector": "webhook",
            "name": "",
            "setting-url": "ftp://example.com/x",
            "setting-secrets": bad_secret,
            "identity_mapping": "shoe_size",
            "rate_limit_per_minute": "0",
        },
    )
    assert response.status_code == 422
    html = text(response)
    assert 'data-testid="errors"' in html
    assert "shoe_size" in html and "is not one of email, lti_sub" in html
    assert "Between 1 and 100000" in html
    assert bad_secret not in html  # the typed secret is not echoed
    # The schema of the connector itself: the name is fine now, the URL and secret are not.
    response = admin.post(
        f"{BASE}/connections/new",
        {
            "connector": "webhook",
            "name": "ok",
            "setting-url": "http://example.com/x",
            "setting-secrets": bad_secret,
        },
    )
    html = text(response)
    assert response.status_code == 422
    assert "Must be an https:// URL" in html and "Must decode to 24 to 64 bytes" in html
    assert bad_secret not in html
    with admin.database.read_session() as session:
        assert session.scalar(select(Connection.id)) is None
    # A duplicate name is refused too, and the first connection is untouched.
    create_webhook(admin, receiver.url, name="dup")
    again = admin.post(
        f"{BASE}/connections/new",
        {
            "connector": "webhook",
            "name": "dup",
            "setting-url": receiver.url,
            "setting-secrets": SECRET,
        },
    )
    assert again.status_code == 422 and "already has a connection named" in text(again)
    assert admin.get(f"{BASE}/connections/new", connector="nope").status_code == 404
    # A form without the CSRF token changes nothing.
    forged = admin.post(
        f"{BASE}/connections/new",
        {
            "connector": "webhook",
            "name": "forged",
            "setting-url": receiver.url,
            "setting-secrets": SECRET,
        },
        csrf=None,
    )
    assert forged.status_code == 400


def test_pause_resume_and_test(admin: As, receiver: Receiver) -> None:
    connection_id = create_webhook(admin, receiver.url)
    page = f"{BASE}/connections/{connection_id}"
    paused = admin.post(f"{page}/pause", {"reason": "HR system migration"})
    assert paused.status_code == 303
    html = text(admin.get(page))
    assert 'data-testid="state">paused<' in html and "HR system migration" in html
    assert connection_row(admin.database, connection_id).paused
    assert admin.post(f"{page}/resume").status_code == 303
    assert connection_row(admin.database, connection_id).state == "ok"

    tested = admin.post(f"{page}/test")
    assert tested.status_code == 200
    assert "Test: <strong>delivered</strong> (HTTP 204)" in text(tested)
    assert receiver.applied == []  # check() sends a ping, never an award
    receiver.mode = 500
    assert "Test: <strong>retry</strong> (HTTP 500)" in text(admin.post(f"{page}/test"))
    receiver.secrets = ["whsec_" + base64.b64encode(b"z" * 32).decode()]
    receiver.mode = "ok"
    assert "Test: <strong>unauthorized</strong> (HTTP 401)" in text(admin.post(f"{page}/test"))


def test_deliveries_by_state_attempts_and_replay(
    admin: As, launcher: Launcher, receiver: Receiver, settings: Settings
) -> None:
    database = admin.database
    pid = platform_id(database, launcher.platform.issuer)
    connection_id = create_webhook(admin, receiver.url)
    receiver.mode = 422  # the target rejects them: dead at once
    award_learners(database, pid, 30)
    drain(database, settings)
    page = f"{BASE}/connections/{connection_id}"
    html = text(admin.get(page, state=DEAD))
    assert 'data-testid="count-dead">dead (30)' in html
    assert "Page 1 of 2" in html and 'rel="next"' in html
    assert html.count('data-testid="delivery-') == 25
    second = text(admin.get(page, state=DEAD, page=2))
    assert second.count('data-testid="delivery-') == 5
    assert 'data-testid="last-error">none<' not in text(admin.get(page))
    listing = text(admin.get(BASE))
    assert "dead: 30" in listing and "HTTP 422" in listing
    assert admin.get(page, state="bogus").status_code == 404

    with database.read_session() as session:
        first = session.scalars(select(Delivery.id).order_by(Delivery.id)).first()
    one = text(admin.get(f"{BASE}/deliveries/{first}"))
    assert 'data-testid="attempts"' in one and "rejected" in one and "422" in one

    receiver.mode = "ok"
    assert admin.post(f"{BASE}/deliveries/{first}/replay").status_code == 303
    drain(database, settings)
    assert text(admin.get(f"{BASE}/deliveries/{first}")).count("<tr>") == 3  # head + 2 tries
    with database.read_session() as session:
        assert session.get_one(Delivery, first).status == DELIVERED
    replayed = admin.post(f"{page}/replay")
    assert replayed.status_code == 303 and "count=29" in replayed.location
    drain(database, settings)
    with database.read_session() as session:
        statuses = set(session.scalars(select(Delivery.status)))
    assert statuses == {DELIVERED}
    assert len(receiver.applied) == 30 and receiver.duplicates == 0


def test_tenants_never_see_each_other(
    admin: As,
    launcher: Launcher,
    other_platform: TestPlatform,
    receiver: Receiver,
    settings: Settings,
) -> None:
    database = admin.database
    other_pid = platform_id(database, other_platform.issuer)
    with database.session() as session:
        theirs = add_connection(
            session,
            SecretBox(settings.secret_key),
            platform_id=other_pid,
            connector="webhook",
            name="Their hooks",
            settings={"url": receiver.url},
            secrets={"secrets": [SECRET]},
        ).id
    receiver.mode = 422
    award_learners(database, other_pid, 1)
    drain(database, settings)
    with database.read_session() as session:
        their_delivery = session.scalars(select(Delivery.id)).one()

    assert "Their hooks" not in text(admin.get(BASE))
    for path in (
        f"{BASE}/connections/{theirs}",
        f"{BASE}/connections/{theirs}/edit",
        f"{BASE}/deliveries/{their_delivery}",
    ):
        assert admin.get(path).status_code == 404, path
    for path in (
        f"{BASE}/connections/{theirs}/pause",
        f"{BASE}/connections/{theirs}/test",
        f"{BASE}/connections/{theirs}/replay",
        f"{BASE}/deliveries/{their_delivery}/replay",
    ):
        assert admin.post(path).status_code == 404, path
    row = connection_row(database, theirs)
    assert not row.paused
    with database.read_session() as session:
        assert session.get_one(Delivery, their_delivery).status == DEAD
    assert not any(m.startswith("ping_") for m in receiver.seen)  # their target untested


def test_the_form_follows_each_connectors_settings_schema(admin: As) -> None:
    xapi = text(admin.get(f"{BASE}/connections/new", connector="xapi"))
    assert 'name="setting-endpoint"' in xapi and 'name="setting-username"' in xapi
    assert 'type="password" id="setting-password" name="setting-password" value=""' in xapi
    assert 'id="setting-language" name="setting-language" value="en"' in xapi  # its default
    webhook = text(admin.get(f"{BASE}/connections/new", connector="webhook"))
    assert '<textarea id="setting-secrets" name="setting-secrets" rows="2" data-secret' in webhook
    assert 'id="setting-include_credential" name="setting-include_credential" checked' in webhook
