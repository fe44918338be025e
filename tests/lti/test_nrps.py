"""NRPS paging and the shared service-token cache, against a real platform over HTTP.

The tool is served on loopback too: the platform's token endpoint verifies our client
assertion against the tool's published JWKS, as a real LMS does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pylti1p3.exception import LtiServiceException

from lti_tool.app import create_app
from lti_tool.db import Database
from lti_tool.keys import ensure_keys, rotate
from lti_tool.lti.nrps import roster
from lti_tool.lti.tool_config import DatabaseToolConf
from lti_tool.platforms import add_platform
from lti_tool.secretbox import SecretBox
from lti_tool.services import USER_AGENT, Services
from lti_tool.settings import load_settings
from lti_tool.testplatform import ROLE_LEARNER, TestPlatform

from ..conftest import SECRET_KEY
from ..support.served import free_port, serving


@pytest.fixture
def served(database: Database, tmp_path: object) -> Iterator[tuple[Services, TestPlatform]]:
    port = free_port()
    settings = load_settings(
        {},
        database_url=database.url,
        public_url=f"http://127.0.0.1:{port}",
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
    )
    app = create_app(settings, database=database)
    services: Services = app.extensions["microcred"]
    with database.session() as session:
        ensure_keys(session, services.secretbox)
    lms = TestPlatform(tool_url=settings.public_url)
    lms.context["id"] = "Course-MixedCase-1"  # pylti1p3 would lower-case the next-page URL
    lms.nrps_page_size = 7
    lms.serve()
    for i in range(30):
        lms.add_member(f"s{i:03d}", f"Learner {i}", [ROLE_LEARNER])
    with database.session() as session:
        add_platform(session, **lms.registration())
    with serving(app, port):
        yield services, lms
    lms.stop()


def _roster(services: Services, lms: TestPlatform, client_id: str | None = None) -> list[str]:
    # Read what the call needs, then close the transaction before any HTTP call.
    with services.database.session() as session:
        key = services.signing_keys.current(session)
        conf = DatabaseToolConf(session, lambda: key)
        registration = conf.find_registration_by_params(lms.issuer, client_id or lms.client_id)
    return [m.sub for m in roster(registration, services.service_tokens, key, lms.nrps_url())]


def test_roster_pages_through_every_member_with_one_token(
    served: tuple[Services, TestPlatform],
) -> None:
    services, lms = served
    subs = _roster(services, lms)
    assert subs == sorted(lms.members)  # 30 members over 5 pages, mixed-case URL kept
    assert lms.token_requests == 1
    assert _roster(services, lms) == subs
    assert lms.token_requests == 1  # cached across connectors until it expires


def test_token_is_requested_again_after_it_expires(served: tuple[Services, TestPlatform]) -> None:
    services, lms = served
    lms.token_lifetime = 31  # the cache keeps it 30 s less: about one second
    _roster(services, lms)
    assert lms.token_requests == 1
    time.sleep(1.2)
    _roster(services, lms)
    assert lms.token_requests == 2  # and the platform accepted a fresh jti each time


def test_revoked_token_is_replaced_once(served: tuple[Services, TestPlatform]) -> None:
    services, lms = served
    _roster(services, lms)
    lms._issued_tokens.clear()  # the platform forgets every token it issued
    assert len(_roster(services, lms)) == 30
    assert lms.token_requests == 2


def test_assertion_signed_after_key_rotation_still_verifies(
    served: tuple[Services, TestPlatform],
) -> None:
    services, lms = served
    with services.database.session() as session:
        rotate(session, SecretBox(SECRET_KEY))
    assert len(_roster(services, lms)) == 30


def test_platform_refusing_the_client_is_an_error(served: tuple[Services, TestPlatform]) -> None:
    services, lms = served
    registered = lms.client_id
    lms.client_id = "changed-on-the-platform-side"  # our assertions now name the wrong client
    with pytest.raises(LtiServiceException) as failure:
        _roster(services, lms, client_id=registered)
    assert "401" in str(failure.value)


def test_outbound_calls_carry_a_user_agent(served: tuple[Services, TestPlatform]) -> None:
    services, _ = served
    assert services.http.headers["User-Agent"] == USER_AGENT
