"""Degreed connector against the local Degreed contract server (tests/connectors/servers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from connectors.base import AwardEvent, Connector, EventType, Outcome, deliver
from connectors.degreed import DegreedConnector, content_external_id
from connectors.degreed.oauth import TokenCache
from connectors.degreed.ratelimit import RequestBudget, seconds_until
from connectors.settings import REDACTED, SettingsError, redact, secret_fields
from connectors.testing import ConnectorContract, ContractTarget, FaultProxy, follow_up
from schemas.connectors.degreed import REGIONS, DegreedSettingsSchema
from tests.connectors.servers.degreed import DegreedServer

CLIENT_ID = "microcred-degreed-test"
CLIENT_SECRET = "s3cr3t+deg/reed=key&x"  # characters that URL-encoding changes


def degreed(url: str, session: requests.Session, **settings: Any) -> DegreedConnector:
    secret = settings.pop("client_secret", CLIENT_SECRET)
    return DegreedConnector(
        {"client_id": CLIENT_ID, "api_url": url, "token_url": f"{url}/oauth/token", **settings},
        {"client_secret": secret},
        session,
    )


def start_server(**options: Any) -> DegreedServer:
    server = DegreedServer(**options)
    server.add_key(CLIENT_ID, CLIENT_SECRET)
    return server


class TestDegreedContract(ConnectorContract):
    connector_class = DegreedConnector

    @pytest.fixture
    def target(self) -> Iterator[ContractTarget]:
        server = start_server()
        self.server = server
        yield server
        server.close()

    def make_connector(self, url: str, session: requests.Session, *, timeout: float) -> Connector:
        return degreed(url, session, timeout=timeout)

    def make_event(self, **changes: Any) -> AwardEvent:
        event = super().make_event(**changes)
        if hasattr(self, "server") and event.learner.email:
            self.server.add_user(event.learner.email, event.learner.hr_ids.get("employee_id"))
        return event

    def invalid_event(self) -> AwardEvent:
        # a learner Degreed does not know: the API answers 404 and nothing is stored
        event = super().make_event()
        return event


@pytest.fixture
def server() -> Iterator[DegreedServer]:
    server = start_server()
    yield server
    server.close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def proxy(server: DegreedServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(server.url)
    yield proxy
    proxy.close()


def award(server: DegreedServer, **changes: Any) -> AwardEvent:
    event = ConnectorContract().make_event(**changes)
    server.add_user(event.learner.email or "", event.learner.hr_ids.get("employee_id"))
    return event


def sent(proxy: FaultProxy, method: str, fragment: str) -> list[Any]:
    return [r for r in proxy.requests if r.method == method and fragment in r.path]


# -- delivery -----------------------------------------------------------------------------


def test_award_creates_content_once_and_one_verified_completion(
    server: DegreedServer, proxy: FaultProxy, session: requests.Session
) -> None:
    connector = degreed(proxy.url, session)
    event = award(server)
    first = connector.push(event)
    assert first.outcome is Outcome.DELIVERED, first
    assert first.status_code == 201
    (completion,) = server.completions_of(event)
    assert first.external_id == completion.id
    assert completion.attributes["user-identifier-type"] == "Email"
    assert completion.attributes["is-verified"] is True
    assert completion.attributes["content-type"] == "Course"
    assert completion.attributes["completed-at"] == event.issued_at.isoformat().replace(
        "+00:00", "Z"
    )
    content = server.content_by_external_id(content_external_id(event.achievement))
    assert content is not None
    assert content["title"] == event.achievement.name
    assert content["url"] == event.achievement.criteria_url

    other = award(server)  # another learner, same achievement: the content is reused
    assert connector.push(other).ok
    assert len(sent(proxy, "POST", "/api/v2/content/courses")) == 1
    assert len(server.state.content) == 1

    token_requests = sent(proxy, "POST", "/oauth/token")
    assert len(token_requests) == 1, "the token is cached until it expires"
    form = parse_qs(token_requests[0].body.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_secret"] == [CLIENT_SECRET]
    assert form["scope"] == ["content:read,content:write,completions:read,completions:write"]
    for request in proxy.requests:
        if request.path.startswith("/api/"):
            assert request.headers["authorization"].startswith("Bearer ")
            assert request.headers["accept"] == "application/json"


def test_retry_after_a_lost_answer_adds_no_duplicate(
    server: DegreedServer, session: requests.Session
) -> None:
    connector = degreed(server.url, session)
    event = award(server)
    first = connector.push(event)
    # the answer was lost (timeout): the engine retries with the same event
    again = degreed(server.url, session).push(event)
    assert again.outcome is Outcome.DELIVERED
    assert again.external_id == first.external_id
    assert "already recorded" in again.detail
    assert server.stored_count(event) == 1


def test_learners_found_by_employee_id(server: DegreedServer, session: requests.Session) -> None:
    event = award(server)
    connector = degreed(server.url, session, user_identifier="employee_id")
    result = connector.push(event)
    assert result.ok, result
    (completion,) = server.completions_of(event)
    assert completion.attributes["user-identifier-type"] == "EmployeeId"
    assert completion.attributes["user-id"] == server.user_by_email(event.learner.email or "").id  # type: ignore[union-attr]


def test_missing_identifier_is_rejected_without_a_request(
    server: DegreedServer, proxy: FaultProxy, session: requests.Session
) -> None:
    event = award(server)
    event = follow_up(
        event,
        EventType.UPDATED,
        learner=type(event.learner)(
            platform_issuer=event.learner.platform_issuer, sub=event.learner.sub
        ),
    )
    result = degreed(proxy.url, session, user_identifier="employee_id").push(event)
    assert result.outcome is Outcome.REJECTED
    assert "'employee_id' HR id" in result.detail
    assert proxy.requests == []


def test_revocation_deletes_the_completion_and_reinstatement_restores_it(
    server: DegreedServer, session: requests.Session
) -> None:
    connector = degreed(server.url, session)
    event = award(server)
    delivered = connector.push(event)
    revocation = follow_up(event, EventType.SUSPENDED, external_id=delivered.external_id)
    assert deliver(connector, revocation).ok
    assert server.stored_count(event) == 0
    assert len(server.completions_of(event, deleted=True)) == 1
    again = deliver(connector, revocation)  # retried: already gone
    assert again.ok and again.status_code == 404
    back = deliver(connector, follow_up(revocation, EventType.REINSTATED))
    assert back.ok
    assert back.external_id not in (None, delivered.external_id)
    assert server.stored_count(event) == 1


def test_revocation_without_external_id_finds_the_completion(
    server: DegreedServer, session: requests.Session
) -> None:
    connector = degreed(server.url, session)
    event = award(server)
    assert connector.push(event).ok
    result = connector.revoke(follow_up(event, EventType.REVOKED))
    assert result.ok, result
    assert server.stored_count(event) == 0
    nothing = connector.revoke(follow_up(award(server), EventType.REVOKED))
    assert nothing.ok and "no completion" in nothing.detail


def test_missing_content_is_rejected_when_creation_is_off(
    server: DegreedServer, session: requests.Session
) -> None:
    result = degreed(server.url, session, create_content=False).push(award(server))
    assert result.outcome is Outcome.REJECTED
    assert "create_content" in result.detail
    assert server.state.content == {}


def test_unknown_learner_is_rejected_clearly(
    server: DegreedServer, session: requests.Session
) -> None:
    event = ConnectorContract().make_event()  # not in the Degreed directory
    result = degreed(server.url, session).push(event)
    assert result.outcome is Outcome.REJECTED
    assert result.status_code == 404
    assert "no Degreed user" in result.detail


def test_updated_award_keeps_its_completion(
    server: DegreedServer, session: requests.Session
) -> None:
    connector = degreed(server.url, session)
    event = award(server)
    first = connector.push(event)
    update = follow_up(event, EventType.UPDATED, external_id=first.external_id)
    assert connector.push(update).external_id == first.external_id
    assert server.stored_count(event) == 1


# -- OAuth --------------------------------------------------------------------------------


def test_expired_token_is_renewed_once_within_the_call(
    server: DegreedServer, proxy: FaultProxy, session: requests.Session
) -> None:
    connector = degreed(proxy.url, session)
    assert connector.push(award(server)).ok
    server.expire_tokens()  # the server forgot it (or it expired early)
    result = degreed(proxy.url, session).push(award(server))
    assert result.ok, result
    assert len(sent(proxy, "POST", "/oauth/token")) == 2


def test_wrong_secret_is_unauthorized_and_not_cached(
    server: DegreedServer, session: requests.Session
) -> None:
    connector = degreed(server.url, session, client_secret="wrong-secret")
    result = connector.check()
    assert result.outcome is Outcome.UNAUTHORIZED
    assert result.status_code == 401
    assert "wrong-secret" not in result.detail


def test_scope_not_granted_is_unauthorized(
    server: DegreedServer, session: requests.Session
) -> None:
    result = degreed(server.url, session, scope="completions:write,users:write").check()
    assert result.outcome is Outcome.UNAUTHORIZED
    assert result.status_code == 400
    assert "invalid_scope" in result.detail


def test_missing_api_scope_is_unauthorized(session: requests.Session) -> None:
    server = DegreedServer()
    server.add_key(CLIENT_ID, CLIENT_SECRET, frozenset({"completions:read"}))
    try:
        connector = degreed(server.url, session, scope="completions:read")
        assert connector.check().ok
        result = connector.push(award(server))
        assert result.outcome is Outcome.UNAUTHORIZED
        assert result.status_code == 403
    finally:
        server.close()


def test_token_cache_expires_with_a_margin() -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    key = TokenCache.key("https://t", "id", "s", "secret")
    cache.put(key, "tok", 3600)
    assert cache.get(key) == "tok"
    now[0] += 3600 - 61
    assert cache.get(key) == "tok"
    now[0] += 2
    assert cache.get(key) is None
    cache.put(key, "new", 3600)
    cache.forget(key, "old")  # another thread's stale token: keeps the new one
    assert cache.get(key) == "new"
    assert key[3] != "secret"  # the key holds a digest, not the secret


# -- rate limit ---------------------------------------------------------------------------


def test_429_is_retried_with_retry_after(session: requests.Session) -> None:
    server = start_server(rate_limit=3)
    try:
        connector = degreed(server.url, session, rate_limit_per_minute=50)
        # token (not counted by the server) + content GET + POST + completion GET = 3
        event = award(server)
        result = connector.push(event)
        assert result.outcome is Outcome.RETRY, result
        assert "rate limit" in result.detail
        assert result.retry_after is not None and 1 <= result.retry_after <= 60
        assert server.throttled == 0, "X-Rate-Limit-Remaining: 0 stopped the sequence"
        assert server.stored_count(event) == 0
    finally:
        server.close()


def test_server_429_maps_to_retry(
    server: DegreedServer, proxy: FaultProxy, session: requests.Session
) -> None:
    connector = degreed(proxy.url, session)
    assert connector.check().ok
    proxy.fail_next(429, headers={"Retry-After": "17", "X-Rate-Limit-Remaining": "0"})
    result = connector.push(award(server))
    assert result.outcome is Outcome.RETRY
    assert result.status_code == 429
    assert result.retry_after == 17
    blocked = connector.push(award(server))  # the budget now holds back further requests
    assert blocked.outcome is Outcome.RETRY
    assert blocked.status_code is None
    assert "not sent" in blocked.detail


def test_never_more_than_the_budget_per_minute(server: DegreedServer) -> None:
    with requests.Session() as session:
        connector = degreed(server.url, session, rate_limit_per_minute=7)
        outcomes = [connector.push(award(server)).outcome for _ in range(4)]
    assert outcomes[0] is Outcome.DELIVERED
    assert Outcome.RETRY in outcomes
    api_calls = [r for r in server.requests if r.path.startswith("/api/")]
    tokens = [r for r in server.requests if r.path == "/oauth/token"]
    assert len(api_calls) + len(tokens) <= 7
    assert server.throttled == 0


def test_request_budget_window() -> None:
    now = [0.0]
    budget = RequestBudget(2, window=60, clock=lambda: now[0])
    assert budget.reserve() is None
    now[0] = 10
    assert budget.reserve() is None
    assert budget.reserve() == pytest.approx(50)
    now[0] = 60.5
    assert budget.reserve() is None
    budget.server_says("0", None)
    assert budget.reserve() == pytest.approx(60)
    assert seconds_until("2020-01-01T00:00:00.1234567Z") == 0
    assert seconds_until("garbage") == 60


# -- settings -----------------------------------------------------------------------------


def test_settings_flag_the_secret_and_resolve_regions() -> None:
    assert secret_fields(DegreedSettingsSchema) == {"client_secret"}
    loaded = DegreedSettingsSchema().load({"client_id": "a", "client_secret": "b", "region": "eu"})
    assert (loaded["api_url"], loaded["token_url"]) == REGIONS["eu"]
    assert redact(DegreedSettingsSchema, loaded)["client_secret"] == REDACTED


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"region": "mars"}, "region"),
        ({"api_url": "http://degreed.example.com"}, "api_url"),
        ({"api_url": "https://api.example.com"}, "api_url"),  # token_url missing
        ({"user_identifier": "sub"}, "user_identifier"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"scope": "everything"}, "scope"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        DegreedConnector({"client_id": "a", **settings}, {"client_secret": "b"}, requests.Session())
    assert field in caught.value.errors


def test_secret_in_settings_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        DegreedConnector({"client_id": "a", "client_secret": "b"}, {}, requests.Session())
    assert "client_secret" in caught.value.errors
