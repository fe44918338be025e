"""The contract's plain data, outcome mapping for HTTP, and settings helpers."""

from __future__ import annotations

import dataclasses
import email.utils
from datetime import datetime

import pytest
import requests
from marshmallow import Schema, fields

from connectors.base import (
    PUSHED_EVENTS,
    WITHDRAWING_EVENTS,
    Achievement,
    AwardStatus,
    EventType,
    Learner,
    Outcome,
    Result,
    iso,
)
from connectors.http import (
    basic_auth_token,
    outcome_for_status,
    parse_retry_after,
    result_from_exception,
    result_from_response,
    scrub,
)
from connectors.settings import REDACTED, SettingsError, load_settings, redact, secret_values
from connectors.testing import sample_event

NOW = 1_800_000_000.0


def response(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made.reason = "Reason"
    made._content = body
    made.headers.update(headers or {})
    made.encoding = "utf-8"
    return made


# -- data -----------------------------------------------------------------------------------


def test_events_are_frozen_and_normalised() -> None:
    event = sample_event(type="credential.revoked", status="revoked")
    assert event.type is EventType.REVOKED
    assert event.status is AwardStatus.REVOKED
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.sequence = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.learner.hr_ids["employee_id"] = "other"  # type: ignore[index]


def test_plain_data_is_validated() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sample_event(issued_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="idempotency_key"):
        sample_event(idempotency_key="")
    with pytest.raises(ValueError, match=r"credential\.granted"):
        sample_event(type="credential.granted")
    with pytest.raises(ValueError, match="platform_issuer and a sub"):
        Learner(platform_issuer="https://lms.example", sub="")
    assert Achievement(id="https://a.example", name="A", tags=["x"]).tags == ("x",)  # type: ignore[arg-type]


def test_every_event_type_has_one_entry_point() -> None:
    assert set(EventType) == PUSHED_EVENTS | WITHDRAWING_EVENTS
    assert not PUSHED_EVENTS & WITHDRAWING_EVENTS


def test_result_rules() -> None:
    assert Result(Outcome.RETRY, retry_after=3).retry_after == 3
    with pytest.raises(ValueError, match=r"only allowed with Outcome\.RETRY"):
        Result(Outcome.REJECTED, retry_after=3)
    with pytest.raises(ValueError, match="negative"):
        Result(Outcome.RETRY, retry_after=-1)


def test_iso_is_utc_with_z() -> None:
    moment = datetime.fromisoformat("2026-03-01T10:00:00+02:00")
    assert iso(moment) == "2026-03-01T08:00:00Z"
    assert iso(None) is None


# -- HTTP outcomes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (201, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (301, Outcome.RETRY),
        (308, Outcome.RETRY),
        (400, Outcome.REJECTED),
        (401, Outcome.UNAUTHORIZED),
        (403, Outcome.UNAUTHORIZED),
        (404, Outcome.REJECTED),
        (408, Outcome.RETRY),
        (409, Outcome.REJECTED),
        (410, Outcome.REJECTED),
        (413, Outcome.REJECTED),
        (422, Outcome.REJECTED),
        (425, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (501, Outcome.RETRY),
        (503, Outcome.RETRY),
        (504, Outcome.RETRY),
    ],
)
def test_status_mapping(status: int, outcome: Outcome) -> None:
    assert outcome_for_status(status) is outcome
    assert result_from_response(response(status)).outcome is outcome


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        (email.utils.formatdate(NOW + 90, usegmt=True), 90.0),
        (email.utils.formatdate(NOW - 90, usegmt=True), 0.0),
        ("Sun, 06 Nov 1994 08:49:37", None),  # no zone
    ],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_retry_after_only_on_retries() -> None:
    assert result_from_response(response(429, headers={"Retry-After": "9"})).retry_after == 9
    assert result_from_response(response(400, headers={"Retry-After": "9"})).retry_after is None


def test_response_details_are_short_and_scrubbed() -> None:
    token = basic_auth_token("key", "s3cret-value")
    body = f"bad request: Authorization: Basic {token} password=s3cret-value " + "x" * 600
    result = result_from_response(
        response(400, body.encode()), secrets=["s3cret-value", token], what="push"
    )
    assert result.detail.startswith("push: HTTP 400 Reason: bad request")
    assert "s3cret-value" not in result.detail
    assert token not in result.detail
    assert result.detail.count("[secret]") == 2
    assert len(result.detail) < 400


def test_delivered_keeps_the_external_id_only_when_delivered() -> None:
    assert result_from_response(response(204), external_id="x").external_id == "x"
    assert result_from_response(response(500), external_id="x").external_id is None


def test_redirect_detail_explains() -> None:
    result = result_from_response(response(301, headers={"Location": "https://elsewhere.example/"}))
    assert "redirect not followed" in result.detail


URL = "https://hooks.example.com/in?token=very-secret-query"


@pytest.mark.parametrize(
    ("exc", "outcome", "words"),
    [
        (requests.ConnectTimeout(URL), Outcome.RETRY, "timed out"),
        (requests.ReadTimeout(URL), Outcome.RETRY, "timed out"),
        (requests.ConnectionError(URL), Outcome.RETRY, "could not connect"),
        (requests.exceptions.SSLError(URL), Outcome.RETRY, "TLS"),
        (requests.exceptions.ChunkedEncodingError(URL), Outcome.RETRY, "failed"),
        (requests.exceptions.InvalidURL(URL), Outcome.REJECTED, "invalid target URL"),
        (requests.exceptions.InvalidSchema(URL), Outcome.REJECTED, "cannot be sent"),
    ],
)
def test_exception_mapping_hides_the_url(
    exc: requests.RequestException, outcome: Outcome, words: str
) -> None:
    result = result_from_exception(exc, url=URL)
    assert result.outcome is outcome
    assert words in result.detail
    assert "hooks.example.com" in result.detail or outcome is Outcome.REJECTED
    assert "very-secret-query" not in result.detail
    assert "/in" not in result.detail


def test_scrub_prefers_longest_secret() -> None:
    assert scrub("abc abcdef", ["abc", "abcdef"]) == "[secret] [secret]"
    assert scrub("nothing", ["", "zzz"]) == "nothing"


# -- settings helpers -----------------------------------------------------------------------


class Demo(Schema):
    url = fields.URL(required=True)
    tokens = fields.List(fields.String(), required=True, metadata={"secret": True})
    password = fields.String(load_default=None, metadata={"secret": True})


def test_redact_and_secret_values() -> None:
    data = {"url": "https://x.example", "tokens": ["a", "b"], "password": None}
    assert redact(Demo, data) == {"url": "https://x.example", "tokens": REDACTED, "password": None}
    assert sorted(secret_values(Demo, data)) == ["a", "b"]


def test_load_settings_errors_are_readable() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(Demo, {"url": "x", "extra": 1}, {"tokens": "not-a-list"})
    assert str(caught.value) == (
        "extra: Unknown field.; tokens: Not a valid list.; url: Not a valid URL."
    )
