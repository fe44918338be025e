"""Gradebook rules and score post-back: the criteria, then the whole job against the test
LMS over HTTP (results with paging, NRPS provisioning, idempotency, a platform that is down).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from lti_tool.credentials import awards, rules
from lti_tool.credentials.postbacks import RETRY_DELAYS, score_of
from lti_tool.gradebook import GradebookError, GradebookSweeper
from lti_tool.lti.ags import Result
from lti_tool.models import (
    Achievement,
    AchievementPlacement,
    AchievementRule,
    AuditEvent,
    Award,
    Context,
    ScorePostback,
    User,
    utcnow,
)
from lti_tool.models.rules import (
    POSTBACK_DONE,
    POSTBACK_FAILED,
    POSTBACK_PENDING,
    RULE_COMPLETED,
    RULE_SCORE_AT_LEAST,
)
from lti_tool.testplatform import ROLE_INSTRUCTOR, ROLE_LEARNER

from ..support.gradebook import World, world  # noqa: F401  (fixture)

PERCENT = {"result_type": "Percent", "name": "Score", "value_min": 0, "value_max": 100}

# -- the criteria -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "maximum", "met"),
    [
        (80, 100, True),  # exactly the threshold
        (0.8, 1, True),
        (4, 5, True),
        (79.99, 100, False),
        (100, 100, True),
        (0, 100, False),
    ],
)
def test_score_threshold_edges(score: float, maximum: float, met: bool) -> None:
    assert rules.qualifies(RULE_SCORE_AT_LEAST, 80, Result("u", score, maximum))[0] is met


def test_float_rounding_does_not_miss_the_threshold() -> None:
    assert 0.57 / 1 * 100 < 57  # what a naive comparison would see
    assert rules.qualifies(RULE_SCORE_AT_LEAST, 57, Result("u", 0.57, 1)) == (True, 57.0)


def test_no_result_and_zero_maximum_never_meet_a_score_rule() -> None:
    assert rules.qualifies(RULE_SCORE_AT_LEAST, 0, Result("u", None, 100)) == (False, None)
    assert rules.qualifies(RULE_SCORE_AT_LEAST, 0, Result("u", 5, 0)) == (False, None)
    # No resultMaximum: the line item's scoreMaximum counts; 0 there too: not computable.
    assert rules.qualifies(RULE_SCORE_AT_LEAST, 50, Result("u", 5, None), 10) == (True, 50.0)
    assert rules.qualifies(RULE_SCORE_AT_LEAST, 0, Result("u", 5, None), 0) == (False, None)


def test_completed_means_a_graded_result() -> None:
    assert rules.qualifies(RULE_COMPLETED, None, Result("u", 0, 100)) == (True, 0.0)
    assert rules.qualifies(RULE_COMPLETED, None, Result("u", None, 100)) == (False, None)
    # Completed with a zero maximum: earned, without a percentage.
    assert rules.qualifies(RULE_COMPLETED, None, Result("u", 3, 0)) == (True, None)


def test_award_result_stays_in_the_declared_range() -> None:
    percent = Achievement(name="a", description="", result_description=PERCENT)
    levels = Achievement(
        name="b",
        description="",
        result_description={"result_type": "RubricCriterionLevel", "name": "L", "levels": []},
    )
    plain = Achievement(name="c", description="", result_description=None)
    assert rules.award_result(percent, 112.5) == {"value": 100.0}
    assert rules.award_result(percent, 80.0) == {"value": 80.0}
    assert rules.award_result(levels, 80.0) is None
    assert rules.award_result(plain, 80.0) == {"value": 80.0}
    assert rules.award_result(plain, None) is None


# -- the job against the LMS -----------------------------------------------------------------


def _course(w: World) -> None:
    w.launcher.land("teacher-1")
    w.launcher.land("learner-1")


def _rule(w: World, achievement_id: int, line: dict[str, object], **kw: object) -> int:
    with w.database.session() as session:
        found = session.get_one(Achievement, achievement_id)
        rule = rules.save_rule(
            session,
            found,
            context_id=w.context_id(),
            kind=str(kw.get("kind", RULE_SCORE_AT_LEAST)),
            threshold=kw.get("threshold", 80.0),  # type: ignore[arg-type]
            lineitem_url=str(line["id"]),
            lineitem_label=str(line["label"]),
        )
        return rule.id


def _awards(w: World, achievement_id: int) -> list[tuple[str, str, object]]:
    with w.database.read_session() as session:
        rows = session.execute(
            select(User.sub, Award.source, Award.result)
            .join(User, User.id == Award.user_id)
            .where(Award.achievement_id == achievement_id)
            .order_by(User.sub)
        ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _count(w: World, model: type) -> int:
    with w.database.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_rule_awards_from_results_provisions_from_roster_and_is_idempotent(
    world: World,  # noqa: F811
) -> None:
    lms = world.lms
    _course(world)
    lms.add_member("s-80", "Exactly Eighty", [ROLE_LEARNER])
    lms.add_member("s-79", "Almost There", [ROLE_LEARNER])
    lms.add_member("t-2", "Other Teacher", [ROLE_INSTRUCTOR])
    lms.gradebook.page_size = 2  # results over several pages
    line = lms.gradebook.add_lineitem(lms, "Final exam", 50)
    lms.gradebook.set_result(line, "learner-1", 42.5, 50)  # 85 %
    lms.gradebook.set_result(line, "s-80", 40, None)  # 80 % of the line item's 50
    lms.gradebook.set_result(line, "s-79", 39.5, 50)  # 79 %
    lms.gradebook.set_result(line, "t-2", 50, 50)  # an instructor
    lms.gradebook.set_result(line, "ghost", 50, 50)  # not in the course roster
    lms.gradebook.set_result(line, "no-score", None, 50)
    achievement_id = world.achievement(result_description=PERCENT)
    rule_id = _rule(world, achievement_id, line)

    outcome = world.job().evaluate_rule(rule_id)
    assert outcome is not None
    assert (outcome.awarded, outcome.already_held, outcome.provisioned) == (2, 0, 1)
    assert outcome.not_met == 2  # 79 % and no score
    assert set(outcome.skipped) == {"t-2", "ghost"}
    assert "not in the course roster" in outcome.skipped["ghost"]
    assert _awards(world, achievement_id) == [
        ("learner-1", "rule", {"value": 85.0}),
        ("s-80", "rule", {"value": 80.0}),
    ]
    with world.database.read_session() as session:
        rule = session.get_one(AchievementRule, rule_id)
        assert rule.last_outcome == "ok" and rule.last_run_at is not None
        assert rule.last_detail and rule.last_detail.startswith("2 awarded")
        actors = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "award.created")
        ).all()
        assert set(actors) == {f"rule:{rule_id}"}

    audits, users = _count(world, AuditEvent), _count(world, User)
    again = world.job().evaluate_rule(rule_id)
    assert again is not None
    assert (again.awarded, again.already_held, again.provisioned) == (0, 2, 0)
    assert _count(world, Award) == 2
    assert (_count(world, AuditEvent), _count(world, User)) == (audits, users)


def test_completed_rule_and_learners_skipped_without_a_roster(world: World) -> None:  # noqa: F811
    lms = world.lms
    _course(world)
    with world.database.session() as session:
        context = session.scalars(select(Context)).one()
        context.services = {k: v for k, v in context.services.items() if k != "nrps"}
    line = lms.gradebook.add_lineitem(lms, "Lab", 10)
    lms.gradebook.set_result(line, "learner-1", 0, 10)  # graded, even with 0 points
    lms.gradebook.set_result(line, "newcomer", 10, 10)
    achievement_id = world.achievement("Lab done")
    rule_id = _rule(world, achievement_id, line, kind=RULE_COMPLETED, threshold=None)
    outcome = world.job().evaluate_rule(rule_id)
    assert outcome is not None
    assert outcome.awarded == 1
    assert "offers no roster" in outcome.skipped["newcomer"]
    assert _awards(world, achievement_id) == [("learner-1", "rule", {"value": 0.0})]


def test_platform_down_is_recorded_and_awards_nothing(world: World) -> None:  # noqa: F811
    lms = world.lms
    _course(world)
    line = lms.gradebook.add_lineitem(lms, "Quiz", 10)
    lms.gradebook.set_result(line, "learner-1", 10, 10)
    achievement_id = world.achievement()
    rule_id = _rule(world, achievement_id, line)
    lms.gradebook.down = True
    with pytest.raises(GradebookError, match="refused"):
        world.job().evaluate_rule(rule_id)
    with world.database.read_session() as session:
        rule = session.get_one(AchievementRule, rule_id)
        assert rule.last_outcome == "error" and "503" in (rule.last_detail or "")
    assert _awards(world, achievement_id) == []
    lms.gradebook.down = False
    assert world.job().evaluate_all() == {
        rule_id: "1 awarded, 0 already held, 0 not meeting the rule."
    }


def test_save_rule_refuses_a_score_rule_without_threshold(world: World) -> None:  # noqa: F811
    _course(world)
    achievement_id = world.achievement()
    with world.database.session() as session, pytest.raises(ValueError, match="threshold"):
        rules.save_rule(
            session,
            session.get_one(Achievement, achievement_id),
            context_id=world.context_id(),
            kind=RULE_SCORE_AT_LEAST,
            threshold=None,
            lineitem_url="https://lms.test/li/1",
            lineitem_label="x",
        )


def test_periodic_sweep_evaluates_rules_in_the_background(world: World) -> None:  # noqa: F811
    lms = world.lms
    _course(world)
    line = lms.gradebook.add_lineitem(lms, "Quiz", 10)
    achievement_id = world.achievement()
    _rule(world, achievement_id, line)
    sweeper = GradebookSweeper(world.job(), interval=0.05).start()
    try:
        lms.gradebook.set_result(line, "learner-1", 9, 10)  # graded after the sweeper started
        deadline = time.monotonic() + 10
        while not _awards(world, achievement_id) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sweeper.stop()
    assert _awards(world, achievement_id) == [("learner-1", "rule", {"value": 90.0})]
    assert sweeper.runs >= 1


# -- score post-back --------------------------------------------------------------------------


def _placement(w: World, achievement_id: int) -> dict[str, object]:
    line = w.lms.gradebook.add_lineitem(w.lms, "Badge earned", 100, resource_id="mc-test", tag="mc")
    with w.database.session() as session:
        session.add(
            AchievementPlacement(
                platform_id=w.platform_id(),
                achievement_id=achievement_id,
                context_id=w.context_id(),
                resource_id="mc-test",
                title="Badge",
                with_lineitem=True,
            )
        )
    return line


def _award_by_hand(w: World, achievement_id: int, result: dict[str, float] | None = None) -> None:
    with w.database.session() as session:
        learner = session.scalars(select(User).where(User.sub == "learner-1")).one()
        awards.award(
            session,
            session.get_one(Achievement, achievement_id),
            learner,
            source="manual",
            actor="admin:test",
            result=result,
        )


def _postback(w: World) -> ScorePostback:
    with w.database.read_session() as session:
        row = session.scalars(select(ScorePostback)).one()
        session.expunge(row)
        return row


def test_award_posts_completed_score_back_after_commit(world: World) -> None:  # noqa: F811
    _course(world)
    achievement_id = world.achievement(result_description=PERCENT)
    line = _placement(world, achievement_id)
    _award_by_hand(world, achievement_id, {"value": 92.0})
    assert world.lms.gradebook.scores == []  # nothing is sent inside the award transaction
    assert _postback(world).status == POSTBACK_PENDING
    assert world.job().drain_postbacks() == (1, 0)
    (score,) = world.lms.gradebook.scores
    assert score["lineitem"] == line["id"]  # found by resourceId (no launch told us yet)
    assert (score["userId"], score["scoreGiven"], score["scoreMaximum"]) == ("learner-1", 92, 100)
    assert (score["activityProgress"], score["gradingProgress"]) == ("Completed", "FullyGraded")
    assert _postback(world).status == POSTBACK_DONE
    assert world.job().drain_postbacks() == (0, 0)  # nothing posted twice
    with world.database.read_session() as session:
        placement = session.scalars(select(AchievementPlacement)).one()
        assert placement.lineitem_url == line["id"]


def test_postback_with_platform_down_is_retried_and_keeps_the_award(
    world: World,  # noqa: F811
) -> None:
    _course(world)
    achievement_id = world.achievement()
    _placement(world, achievement_id)
    _award_by_hand(world, achievement_id)
    world.lms.gradebook.down = True
    before = utcnow()
    assert world.job().drain_postbacks() == (0, 1)
    row = _postback(world)
    assert row.status == POSTBACK_PENDING and row.attempts == 1
    assert row.next_attempt_at >= before + timedelta(seconds=RETRY_DELAYS[0] - 1)
    assert "503" in (row.last_error or "")
    assert world.job().drain_postbacks() == (0, 0)  # not due yet
    assert _awards(world, achievement_id) == [("learner-1", "manual", None)]

    world.lms.gradebook.down = False
    with world.database.session() as session:  # the retry falls due
        session.execute(update(ScorePostback).values(next_attempt_at=utcnow()))
    assert world.job().drain_postbacks() == (1, 0)
    assert _postback(world).status == POSTBACK_DONE
    assert world.lms.gradebook.scores[0]["scoreGiven"] == 100  # earned without a result


def test_postback_gives_up_after_the_schedule(world: World) -> None:  # noqa: F811
    _course(world)
    achievement_id = world.achievement()
    _placement(world, achievement_id)
    _award_by_hand(world, achievement_id)
    world.lms.gradebook.down = True
    for _ in range(len(RETRY_DELAYS) + 1):
        with world.database.session() as session:
            session.execute(update(ScorePostback).values(next_attempt_at=utcnow()))
        world.job().drain_postbacks()
    row = _postback(world)
    assert (row.status, row.attempts) == (POSTBACK_FAILED, len(RETRY_DELAYS) + 1)
    assert _awards(world, achievement_id) == [("learner-1", "manual", None)]


def test_no_postback_for_learners_outside_the_course_or_without_placement(
    world: World,  # noqa: F811
) -> None:
    _course(world)
    achievement_id = world.achievement()
    _award_by_hand(world, achievement_id)  # not placed: nothing queued
    assert _count(world, ScorePostback) == 0


def test_score_of_clamps_and_defaults() -> None:
    assert score_of(Award(result={"value": 120})) == 100.0
    assert score_of(Award(result={"value": 55.5})) == 55.5
    assert score_of(Award(result={"level": "Gold"})) == 100.0
    assert score_of(Award(result=None)) == 100.0


def test_periodic_runs_skip_rules_switched_off_but_a_manual_sync_runs_them(
    world: World,  # noqa: F811
) -> None:
    lms = world.lms
    _course(world)
    line = lms.gradebook.add_lineitem(lms, "Quiz", 10)
    lms.gradebook.set_result(line, "learner-1", 10, 10)
    achievement_id = world.achievement()
    rule_id = _rule(world, achievement_id, line)
    with world.database.session() as session:
        session.get_one(AchievementRule, rule_id).enabled = False
    assert world.job().evaluate_all() == {}
    assert world.job().evaluate_rule(rule_id) is None
    assert _awards(world, achievement_id) == []
    outcome = world.job().evaluate_rule(rule_id, manual=True)
    assert outcome is not None and outcome.awarded == 1


def test_postback_refused_by_the_lms_is_not_retried(world: World) -> None:  # noqa: F811
    _course(world)
    achievement_id = world.achievement()
    _placement(world, achievement_id)
    _award_by_hand(world, achievement_id)
    del world.lms.members["learner-1"]  # the LMS no longer knows the learner: 400
    assert world.job().drain_postbacks() == (0, 1)
    row = _postback(world)
    assert (row.status, row.attempts) == (POSTBACK_FAILED, 1)
    assert "400" in (row.last_error or "")
    assert _awards(world, achievement_id) == [("learner-1", "manual", None)]


def test_rule_awards_queue_postbacks_for_enrolled_learners(world: World) -> None:  # noqa: F811
    lms = world.lms
    _course(world)
    lms.add_member("s-new", "New Learner", [ROLE_LEARNER])
    achievement_id = world.achievement(result_description=PERCENT)
    _placement(world, achievement_id)
    quiz = lms.gradebook.add_lineitem(lms, "Quiz", 10)
    lms.gradebook.set_result(quiz, "learner-1", 9, 10)
    lms.gradebook.set_result(quiz, "s-new", 10, 10)  # added from the roster, then enrolled
    outcome = world.job().evaluate_rule(_rule(world, achievement_id, quiz))
    assert outcome is not None and outcome.awarded == 2
    assert world.job().drain_postbacks() == (2, 0)
    assert sorted((s["userId"], s["scoreGiven"]) for s in lms.gradebook.scores) == [
        ("learner-1", 90),
        ("s-new", 100),
    ]


def test_an_answer_for_a_postback_removed_meanwhile_is_ignored(world: World) -> None:  # noqa: F811
    from lti_tool.credentials.postbacks import record_failure, record_success

    _course(world)
    achievement_id = world.achievement()
    _placement(world, achievement_id)
    _award_by_hand(world, achievement_id)
    row_id = _postback(world).id
    with world.database.session() as session:  # e.g. its platform was removed
        session.delete(session.get_one(ScorePostback, row_id))
    with world.database.session() as session:
        record_success(session, row_id)
        assert record_failure(session, row_id, "LMS answered 503") is None
    with world.database.read_session() as session:
        assert session.get(ScorePostback, row_id) is None
