"""The AGS client against the test LMS over real HTTP: paging, filters, media types, scopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
from pylti1p3.exception import LtiServiceException

from lti_tool.lti.ags import (
    SCOPE_SCORE,
    SCORE,
    AgsClient,
    Result,
    Score,
    with_path_suffix,
)
from lti_tool.lti.tool_config import DatabaseToolConf
from lti_tool.testplatform.gradebook import LINEITEM

from ..support.gradebook import World, world  # noqa: F401  (fixture)


def _client(w: World) -> AgsClient:
    with w.database.session() as session:
        key = w.services.signing_keys.current(session)
        conf = DatabaseToolConf(session, lambda: key)
        registration = conf.find_registration_by_params(w.lms.issuer, w.lms.client_id)
    return AgsClient(registration, w.services.service_tokens, key)


def test_line_items_are_read_over_every_page_and_filtered(world: World) -> None:  # noqa: F811
    lms = world.lms
    lms.gradebook.page_size = 2
    for n in range(5):
        lms.gradebook.add_lineitem(lms, f"Quiz {n}", 10 + n, resource_id=f"r{n % 2}", tag="quiz")
    client = _client(world)
    items = client.line_items(lms.lineitems_url())
    assert [i.label for i in items] == [f"Quiz {n}" for n in range(5)]
    assert [i.score_maximum for i in items] == [10, 11, 12, 13, 14]
    pages = [p for m, p in lms.gradebook.requests if p.endswith("/lineitems") and m == "GET"]
    assert len(pages) == 3  # 2 + 2 + 1, following Link: rel="next"
    assert [i.label for i in client.line_items(lms.lineitems_url(), resource_id="r1")] == [
        "Quiz 1",
        "Quiz 3",
    ]
    assert client.line_items(lms.lineitems_url(), tag="none") == []
    assert lms.token_requests == 1  # one token for all pages and calls with that scope


def test_create_line_item(world: World) -> None:  # noqa: F811
    client = _client(world)
    created = client.create_line_item(
        world.lms.lineitems_url(), label="Final", score_maximum=100, resource_id="mc-1", tag="mc"
    )
    assert created.id.startswith(world.lms.lineitems_url() + "/")
    assert (created.label, created.score_maximum, created.resource_id, created.tag) == (
        "Final",
        100,
        "mc-1",
        "mc",
    )
    assert client.line_item(created.id) == created


def test_results_are_read_over_every_page(world: World) -> None:  # noqa: F811
    lms = world.lms
    lms.gradebook.page_size = 3
    item = lms.gradebook.add_lineitem(lms, "Quiz", 20)
    for n in range(7):
        lms.add_member(
            f"s{n}", f"Learner {n}", ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
        )
        lms.gradebook.set_result(item, f"s{n}", float(n), 20 if n % 2 else None)
    results = list(_client(world).results(item["id"]))
    assert [r.user_id for r in results] == [f"s{n}" for n in range(7)]
    assert results[1] == Result("s1", 1.0, 20.0)
    assert results[0] == Result("s0", 0.0, None)  # no maximum given: the rule uses the item's
    mine = list(_client(world).results(item["id"], user_id="s4"))
    assert mine == [Result("s4", 4.0, None)]


def test_post_score_is_a_completed_fully_graded_score(world: World) -> None:  # noqa: F811
    lms = world.lms
    item = lms.gradebook.add_lineitem(lms, "Badge", 100)
    at = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    _client(world).post_score(
        item["id"], Score(user_id="learner-1", timestamp=at, score_given=87.5, score_maximum=100)
    )
    (score,) = lms.gradebook.scores
    assert score["userId"] == "learner-1"
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    assert (score["scoreGiven"], score["scoreMaximum"]) == (87.5, 100)
    assert datetime.fromisoformat(score["timestamp"]) == at
    assert lms.gradebook.results["1"]["learner-1"]["resultScore"] == 87.5


def test_score_needs_a_positive_maximum_and_an_aware_time() -> None:
    with pytest.raises(ValueError, match="positive scoreMaximum"):
        Score("u", datetime.now(UTC), score_given=1, score_maximum=0).to_json()
    with pytest.raises(ValueError, match="timezone-aware"):
        Score("u", datetime(2026, 1, 1)).to_json()


def test_platform_down_is_a_service_error(world: World) -> None:  # noqa: F811
    world.lms.gradebook.down = True
    with pytest.raises(LtiServiceException) as failure:
        _client(world).line_items(world.lms.lineitems_url())
    assert "503" in str(failure.value)


def test_platform_enforces_media_type_and_scope(world: World) -> None:  # noqa: F811
    lms = world.lms
    item = lms.gradebook.add_lineitem(lms, "Badge", 100)
    with world.database.session() as session:
        key = world.services.signing_keys.current(session)
        conf = DatabaseToolConf(session, lambda: key)
        registration = conf.find_registration_by_params(lms.issuer, lms.client_id)
    tokens = world.services.service_tokens
    score_token = tokens.token(registration, [SCOPE_SCORE], key.kid, key.private_pem)
    body = {
        "userId": "learner-1",
        "timestamp": datetime.now(UTC).isoformat(),
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
    }
    url = item["id"] + "/scores"
    auth = {"Authorization": f"Bearer {score_token}"}
    wrong_type = requests.post(url, json=body, headers=auth, timeout=5)
    assert wrong_type.status_code == 415
    right = requests.post(
        url, data=json.dumps(body), headers={**auth, "Content-Type": SCORE}, timeout=5
    )
    assert right.status_code == 204
    # A score-only token cannot read or create line items.
    assert requests.get(lms.lineitems_url(), headers=auth, timeout=5).status_code == 401
    assert (
        requests.post(
            lms.lineitems_url(),
            data="{}",
            headers={**auth, "Content-Type": LINEITEM},
            timeout=5,
        ).status_code
        == 401
    )
    bad = dict(body, activityProgress="Done")
    refused = requests.post(
        url, data=json.dumps(bad), headers={**auth, "Content-Type": SCORE}, timeout=5
    )
    assert refused.status_code == 400


def test_results_url_keeps_the_line_item_query() -> None:
    assert (
        with_path_suffix("https://lms.test/li/7?type=a", "/results", {"user_id": "u1"})
        == "https://lms.test/li/7/results?type=a&user_id=u1"
    )
    assert with_path_suffix("https://lms.test/li/7/", "/scores") == "https://lms.test/li/7/scores"
