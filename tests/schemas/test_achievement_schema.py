"""The achievement form/API schema: partial loads (PATCH) of nested result descriptions."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from schemas.credentials.achievements import AchievementSchema


def test_partial_load_of_a_result_description_still_needs_its_type() -> None:
    with pytest.raises(ValidationError) as caught:
        AchievementSchema().load({"result_description": {"name": "Score"}}, partial=True)
    assert caught.value.messages == {
        "result_description": {"result_type": ["Missing data for required field."]}
    }


def test_partial_load_with_a_whole_result_description_is_accepted() -> None:
    loaded = AchievementSchema().load(
        {"result_description": {"result_type": "Percent", "name": "Score"}}, partial=True
    )
    assert loaded["result_description"]["value_min"] == 0.0
    assert loaded["result_description"]["value_max"] == 100.0
