"""Deep Linking end to end with the test LMS: the request launch, the picker, the signed
response verified by the LMS against our JWKS, the placed link's launch, score post-back;
and the refusals: forged or mismatched requests and responses, learners."""

from __future__ import annotations

import re
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from werkzeug.test import TestResponse

from lti_tool.credentials import awards
from lti_tool.lti import deep_linking as dl
from lti_tool.models import Achievement, AchievementPlacement, User
from lti_tool.testplatform import SigningKey

from ..support.gradebook import World, world  # noqa: F401  (fixture)
from ..web.conftest import As

PERCENT = {"result_type": "Percent", "name": "Score", "value_min": 0, "value_max": 100}
FORM = re.compile(r'<form id="autopost" method="post" action="([^"]+)">')
JWT_FIELD = re.compile(r'name="JWT" value="([^"]+)"')


def _dl_launch(w: World, sub: str = "teacher-1", **change: Any) -> TestResponse:
    lms = w.lms

    def mutate(claims: dict[str, Any]) -> dict[str, Any]:
        out = lms.claims_for(claims["sub"], claims["nonce"], message_type="LtiDeepLinkingRequest")
        settings = out[dl.DL_SETTINGS]
        settings.update(change.pop("settings", {}))
        for name, value in change.items():
            if value is None:
                out.pop(name, None)
            else:
                out[name] = value
        return out

    return w.launcher.launch(sub, mutate=mutate)


def _session(w: World, response: TestResponse) -> As:
    assert response.status_code == 303, response.get_data(as_text=True)
    return As(w.launcher.client, response.location)


def _place(w: World, teacher: As, achievement_id: int) -> tuple[str, str]:
    response = teacher.post("/app/deep-linking", {"achievement_id": str(achievement_id)})
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    action, token = FORM.search(html), JWT_FIELD.search(html)
    assert action and token
    return action.group(1), token.group(1)


def _setup(w: World) -> tuple[As, int]:
    w.launcher.land("learner-1")
    teacher = _session(w, _dl_launch(w))
    assert "/app/deep-linking" in teacher.url
    return teacher, w.achievement("Data literacy", result_description=PERCENT)


def test_instructor_places_an_achievement_with_a_line_item(world: World) -> None:  # noqa: F811
    teacher, achievement_id = _setup(world)
    plain_id = world.achievement("Attendance")
    picker = teacher.get("/app/deep-linking")
    assert picker.status_code == 200
    page = picker.get_data(as_text=True)
    assert "Data literacy" in page and "Attendance" in page
    return_url, token = _place(world, teacher, achievement_id)
    assert return_url == world.lms.base_url + "/deep-link-return"

    answer = requests.post(return_url, data={"JWT": token}, timeout=5)
    assert answer.status_code == 200, answer.text
    (link,) = world.lms.gradebook.links
    with world.database.read_session() as session:
        placement = session.scalars(select(AchievementPlacement)).one()
        assert (placement.achievement_id, placement.with_lineitem) == (achievement_id, True)
        resource_id = placement.resource_id
    assert link["custom"] == {dl.CUSTOM_PARAM: resource_id}
    assert link["title"] == "Data literacy" and link["text"] == "Shows Data literacy."
    (line,) = world.lms.gradebook.lineitems.values()
    assert line["scoreMaximum"] == 100 and line["resourceId"] == resource_id
    assert line["tag"] == dl.LINEITEM_TAG and line["label"] == "Data literacy"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims[dl.DL_DATA] == world.lms.deep_link_data

    # Without a result description: a link, no line item.
    teacher2 = _session(world, _dl_launch(world))
    url2, token2 = _place(world, teacher2, plain_id)
    assert requests.post(url2, data={"JWT": token2}, timeout=5).status_code == 200
    assert world.lms.gradebook.links[1]["lineitem"] is None
    assert len(world.lms.gradebook.lineitems) == 1


def test_placed_link_shows_progress_and_posts_the_score_back(world: World) -> None:  # noqa: F811
    teacher, achievement_id = _setup(world)
    url, token = _place(world, teacher, achievement_id)
    requests.post(url, data={"JWT": token}, timeout=5)
    (link,) = world.lms.gradebook.links
    learner = _session(
        world, world.launcher.launch("learner-1", mutate=world.lms.link_launch(link))
    )
    assert "/app/placed/" in learner.url
    page = learner.client.get(learner.url).get_data(as_text=True)
    assert "Data literacy" in page and "Score well in Data literacy." in page
    assert "Not earned yet" in page and 'data-testid="manage"' not in page
    with world.database.read_session() as session:
        placement = session.scalars(select(AchievementPlacement)).one()
        assert placement.lineitem_url == link["lineitem"]  # learned from the launch's AGS claim
        assert placement.resource_link_id is not None

    with world.database.session() as session:
        awards.award(
            session,
            session.get_one(Achievement, achievement_id),
            session.scalars(select(User).where(User.sub == "learner-1")).one(),
            source="manual",
            actor="admin:test",
            result={"value": 88.0},
        )
    assert world.job().drain_postbacks() == (1, 0)
    (score,) = world.lms.gradebook.scores
    assert (score["lineitem"], score["scoreGiven"]) == (link["lineitem"], 88)
    page = learner.client.get(learner.url).get_data(as_text=True)
    assert "Earned on" in page

    instructor = _session(
        world, world.launcher.launch("teacher-1", mutate=world.lms.link_launch(link))
    )
    page = instructor.client.get(instructor.url).get_data(as_text=True)
    assert 'data-testid="manage"' in page


def test_learner_can_never_place(world: World) -> None:  # noqa: F811
    world.launcher.land("teacher-1")
    achievement_id = world.achievement()
    learner = _session(world, _dl_launch(world, "learner-1"))
    assert learner.get("/app/deep-linking").status_code == 403
    response = learner.post("/app/deep-linking", {"achievement_id": str(achievement_id)})
    assert response.status_code == 403
    with world.database.read_session() as session:
        assert session.scalars(select(AchievementPlacement)).all() == []


def test_picker_needs_a_deep_linking_launch_and_csrf(world: World) -> None:  # noqa: F811
    teacher, achievement_id = _setup(world)
    resource = As(world.launcher.client, world.launcher.page_url(world.launcher.land("teacher-1")))
    assert resource.get("/app/deep-linking").status_code == 409
    assert resource.post("/app/deep-linking", {"achievement_id": "1"}).status_code == 409
    missing = teacher.post("/app/deep-linking", {"achievement_id": str(achievement_id)}, csrf=None)
    assert missing.status_code == 400
    unknown = teacher.post("/app/deep-linking", {"achievement_id": "999999"})
    assert unknown.status_code == 422
    garbage = teacher.post("/app/deep-linking", {"achievement_id": "<script>"})
    assert garbage.status_code == 422 and "<script>" not in garbage.get_data(as_text=True)


def test_forged_or_malformed_deep_linking_requests_are_refused(world: World) -> None:  # noqa: F811
    world.launcher.land("teacher-1")
    forger = SigningKey(world.lms.keys[0].kid, SigningKey.generate().private_key)
    lms = world.lms

    def dl_claims(claims: dict[str, Any]) -> dict[str, Any]:
        return lms.claims_for(claims["sub"], claims["nonce"], message_type="LtiDeepLinkingRequest")

    forged = world.launcher.launch(
        "teacher-1", mutate=dl_claims, sign=lambda c: lms.sign(c, key=forger)
    )
    assert forged.status_code in (400, 401, 403)
    no_settings = _dl_launch(world, **{dl.DL_SETTINGS: None})
    assert no_settings.status_code == 400
    no_links = _dl_launch(world, settings={"accept_types": ["link"]})
    assert no_links.status_code == 400
    other_deployment = _dl_launch(
        world, **{"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "unknown"}
    )
    assert other_deployment.status_code == 403


def test_lms_refuses_forged_mismatched_or_replayed_responses(world: World) -> None:  # noqa: F811
    teacher, achievement_id = _setup(world)
    url, token = _place(world, teacher, achievement_id)
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers=header)
    assert requests.post(url, data={"JWT": forged}, timeout=5).status_code == 400

    with world.database.session() as session:
        key = world.services.signing_keys.current(session)

    def signed(**change: Any) -> str:
        return jwt.encode({**claims, **change}, key.private_key, algorithm="RS256", headers=header)

    lti = "https://purl.imsglobal.org/spec/lti/claim/"
    for bad in (
        signed(aud="https://another-lms.test"),
        signed(**{lti + "deployment_id": "other"}),
        signed(**{lti + "message_type": "LtiResourceLinkRequest"}),
        signed(**{dl.DL_DATA: "not what was sent"}),
        signed(iss="someone-else"),
    ):
        assert requests.post(url, data={"JWT": bad}, timeout=5).status_code == 400
    assert requests.post(url, data={"JWT": token}, timeout=5).status_code == 200
    replay = requests.post(url, data={"JWT": token}, timeout=5)
    assert replay.status_code == 400 and "nonce" in replay.text
    assert len(world.lms.gradebook.links) == 1


def test_unknown_placement_is_a_clear_404(world: World) -> None:  # noqa: F811
    world.launcher.land("learner-1")
    link = {"id": "rl-9", "title": "Gone", "custom": {dl.CUSTOM_PARAM: "mc-nothing"}}
    response = world.launcher.launch("learner-1", mutate=world.lms.link_launch(link))
    assert response.status_code == 303
    page = world.launcher.client.get(response.location)
    assert page.status_code == 404
    assert "no longer available" in page.get_data(as_text=True)


def test_placed_link_shows_the_learners_current_score_when_a_rule_exists(
    world: World,  # noqa: F811
) -> None:
    from lti_tool.credentials import rules

    teacher, achievement_id = _setup(world)
    url, token = _place(world, teacher, achievement_id)
    requests.post(url, data={"JWT": token}, timeout=5)
    (link,) = world.lms.gradebook.links
    quiz = world.lms.gradebook.add_lineitem(world.lms, "Quiz", 40)
    world.lms.gradebook.set_result(quiz, "learner-1", 30, 40)
    with world.database.session() as session:
        rules.save_rule(
            session,
            session.get_one(Achievement, achievement_id),
            context_id=world.context_id(),
            kind="score_at_least",
            threshold=80,
            lineitem_url=quiz["id"],
            lineitem_label="Quiz",
        )
    learner = _session(
        world, world.launcher.launch("learner-1", mutate=world.lms.link_launch(link))
    )
    page = learner.client.get(learner.url).get_data(as_text=True)
    assert "at least 80 %" in page and "30 of 40" in page
    world.lms.gradebook.down = True
    page = learner.client.get(learner.url).get_data(as_text=True)
    assert "could not be read from the LMS" in page and "Not earned yet" in page
