"""The gradebook-rule page: bind an achievement to an AGS line item, sync grades now."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.models import AchievementRule, Award

from ..support.gradebook import World, world  # noqa: F401  (fixture)
from .conftest import As, launch_as, text

PERCENT = {"result_type": "Percent", "name": "Score", "value_min": 0, "value_max": 100}


def _page(achievement_id: int) -> str:
    return f"/app/instructor/achievements/{achievement_id}/rule"


def _rules(w: World) -> list[tuple[str, float | None, str, str | None]]:
    with w.database.read_session() as session:
        return [
            (r.kind, r.threshold, r.lineitem_url, r.last_outcome)
            for r in session.scalars(select(AchievementRule))
        ]


def _setup(w: World) -> tuple[As, int, dict[str, object]]:
    teacher = launch_as(w.launcher, "teacher-1")
    launch_as(w.launcher, "learner-1")
    line = w.lms.gradebook.add_lineitem(w.lms, "Final exam", 20)
    return teacher, w.achievement(result_description=PERCENT), line


def test_instructor_binds_a_rule_and_syncs_grades_now(world: World) -> None:  # noqa: F811
    teacher, achievement_id, line = _setup(world)
    assert 'data-testid="link-rule"' in text(
        teacher.get(f"/app/instructor/achievements/{achievement_id}")
    )
    page = teacher.get(_page(achievement_id))
    assert page.status_code == 200 and "Final exam" in text(page)

    saved = teacher.post(
        _page(achievement_id),
        {"lineitem": line["id"], "kind": "score_at_least", "threshold": "80", "enabled": "on"},
    )
    assert saved.status_code == 303, text(saved)
    assert _rules(world) == [("score_at_least", 80.0, line["id"], None)]
    assert "Not evaluated yet" in text(teacher.get(_page(achievement_id)))

    world.lms.gradebook.set_result(line, "learner-1", 16, 20)  # exactly 80 %
    synced = teacher.post(_page(achievement_id) + "/sync")
    assert synced.status_code == 303, text(synced)
    with world.database.read_session() as session:
        (award,) = session.scalars(select(Award)).all()
        assert (award.source, award.result) == ("rule", {"value": 80.0})
    status = text(teacher.get(_page(achievement_id)))
    assert "1 awarded" in status and "ok" in status
    assert teacher.post(_page(achievement_id) + "/sync").status_code == 303
    with world.database.read_session() as session:
        assert len(session.scalars(select(Award)).all()) == 1  # idempotent


def test_new_column_is_created_in_the_lms(world: World) -> None:  # noqa: F811
    teacher, achievement_id, _ = _setup(world)
    saved = teacher.post(
        _page(achievement_id), {"lineitem": "new", "kind": "completed", "enabled": "on"}
    )
    assert saved.status_code == 303, text(saved)
    created = world.lms.gradebook.lineitems["2"]
    assert created["label"] == "Python basics" and created["scoreMaximum"] == 100
    assert _rules(world) == [("completed", None, created["id"], None)]


def test_bad_rule_forms_are_refused_and_save_nothing(world: World) -> None:  # noqa: F811
    teacher, achievement_id, line = _setup(world)
    cases = [
        {"lineitem": "https://evil.test/lineitems/1", "kind": "completed"},  # not the LMS's
        {"lineitem": line["id"], "kind": "score_at_least"},  # no threshold
        {"lineitem": line["id"], "kind": "score_at_least", "threshold": "150"},
        {"lineitem": line["id"], "kind": "score_at_least", "threshold": "lots"},
        {"lineitem": line["id"], "kind": "<script>alert(1)</script>"},
        {"kind": "completed"},
    ]
    for form in cases:
        response = teacher.post(_page(achievement_id), form)
        assert response.status_code == 422, (form, response.status_code)
        assert "<script>alert" not in text(response)
    assert _rules(world) == []


def test_sync_with_the_lms_down_says_so(world: World) -> None:  # noqa: F811
    teacher, achievement_id, line = _setup(world)
    teacher.post(_page(achievement_id), {"lineitem": line["id"], "kind": "completed"})
    world.lms.gradebook.down = True
    response = teacher.post(_page(achievement_id) + "/sync")
    assert response.status_code == 502
    assert "Grades could not be read" in text(response)
    assert "gradebook columns" in text(response)  # the form explains the LMS did not list them
    assert _rules(world)[0][3] == "error"


def test_learners_and_forged_posts_are_refused(world: World) -> None:  # noqa: F811
    teacher, achievement_id, line = _setup(world)
    learner = launch_as(world.launcher, "learner-1")
    form = {"lineitem": line["id"], "kind": "completed"}
    assert learner.get(_page(achievement_id)).status_code == 403
    assert learner.post(_page(achievement_id), form).status_code == 403
    assert learner.post(_page(achievement_id) + "/sync").status_code == 403
    assert teacher.post(_page(achievement_id), form, csrf=None).status_code == 400
    assert teacher.post(_page(achievement_id), form, csrf="0" * 64).status_code == 400
    assert teacher.get(_page(999999)).status_code == 404
    assert teacher.post(_page(achievement_id) + "/sync").status_code == 404  # no rule yet
    assert _rules(world) == []
