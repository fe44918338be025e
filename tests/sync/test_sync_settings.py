"""Sync settings: typed, validated, overridable from the environment."""

from __future__ import annotations

import pytest

from lti_tool.settings import SettingsError, load_settings


def test_sync_settings_come_from_the_environment() -> None:
    settings = load_settings(
        {
            "MICROCRED_SECRET_KEY": "k" * 40,
            "MICROCRED_SYNC_RUNNER": "celery",
            "MICROCRED_SYNC_DELAY_SCALE": "0.001",
            "MICROCRED_SYNC_THREADS": "4",
            "MICROCRED_SYNC_BROKER_URL": "redis://:hunter2@redis.internal:6379/1",
        }
    )
    assert (settings.sync_runner, settings.sync_delay_scale, settings.sync_threads) == (
        "celery",
        0.001,
        4,
    )
    assert "hunter2" not in repr(settings)  # the broker URL may carry a password


def test_defaults() -> None:
    settings = load_settings({"MICROCRED_SECRET_KEY": "k" * 40})
    assert settings.sync_runner == "embedded"
    assert settings.sync_delay_scale == 1.0
    assert settings.sync_lease_seconds > 60  # longer than any connector timeout
    assert settings.sync_disable_after == 5 * 86400


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MICROCRED_SYNC_RUNNER", "rq", "MICROCRED_SYNC_RUNNER"),
        ("MICROCRED_SYNC_THREADS", "0", "MICROCRED_SYNC_THREADS"),
        ("MICROCRED_SYNC_LEASE_SECONDS", "0", "MICROCRED_SYNC_LEASE_SECONDS"),
        ("MICROCRED_SYNC_DELAY_SCALE", "fast", "MICROCRED_SYNC_DELAY_SCALE"),
    ],
)
def test_wrong_values_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({"MICROCRED_SECRET_KEY": "k" * 40, name: value})
