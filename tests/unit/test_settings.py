"""Settings: TOML defaults, MICROCRED_* overrides, clear errors, generated secret key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lti_tool.settings import SettingsError, load_settings


def _load(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    environ = {"MICROCRED_INSTANCE_PATH": str(tmp_path / "instance"), **env}
    return load_settings(environ)


def test_embedded_default_is_sqlite_under_instance(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    assert settings.database_url == f"sqlite:///{(tmp_path / 'instance' / 'microcred.db')}"
    assert settings.public_url == "http://localhost:8000"
    assert not settings.is_production


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = _load(tmp_path).secret_key
    assert len(first) >= 32
    assert _load(tmp_path).secret_key == first
    mode = (tmp_path / "instance" / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_environment_overrides_defaults(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        MICROCRED_PUBLIC_URL="https://badges.example.edu/",
        MICROCRED_DATABASE_URL="postgresql://u@db/microcred",
        MICROCRED_SECRET_KEY="k" * 40,
        MICROCRED_CLOCK_SKEW="5",
    )
    assert settings.public_url == "https://badges.example.edu"
    assert settings.database_url == "postgresql+psycopg://u@db/microcred"
    assert settings.clock_skew == 5
    assert settings.secure_cookies


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 48 + "\n")
    assert _load(tmp_path, MICROCRED_SECRET_KEY_FILE=str(secret)).secret_key == "s" * 48


def test_secret_never_in_repr(tmp_path: Path) -> None:
    settings = _load(tmp_path, MICROCRED_SECRET_KEY="z" * 40)
    assert "z" * 40 not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MICROCRED_ENV": "staging"}, "MICROCRED_ENV"),
        ({"MICROCRED_PUBLIC_URL": "ftp://x"}, "MICROCRED_PUBLIC_URL"),
        ({"MICROCRED_PUBLIC_URL": "https://x?y=1"}, "MICROCRED_PUBLIC_URL"),
        ({"MICROCRED_CLOCK_SKEW": "soon"}, "MICROCRED_CLOCK_SKEW"),
        ({"MICROCRED_SECRET_KEY": "short"}, "at least 32"),
        ({"MICROCRED_SECRET_KEY_FILE": "/nonexistent/secret"}, "MICROCRED_SECRET_KEY_FILE"),
        ({"MICROCRED_ENV": "production"}, "https"),
        (
            {"MICROCRED_ENV": "production", "MICROCRED_PUBLIC_URL": "https://b.example"},
            "MICROCRED_DATABASE_URL is required",
        ),
        (
            {
                "MICROCRED_ENV": "production",
                "MICROCRED_PUBLIC_URL": "https://b.example",
                "MICROCRED_DATABASE_URL": "postgresql://db/x",
            },
            "MICROCRED_SECRET_KEY",
        ),
        ({"MICROCRED_MAX_ID_TOKEN_BYTES": "0"}, "positive"),
    ],
)
def test_wrong_settings_stop_with_a_clear_message(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        _load(tmp_path, **env)


def test_production_never_generates_a_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        _load(
            tmp_path,
            MICROCRED_ENV="production",
            MICROCRED_PUBLIC_URL="https://b.example",
            MICROCRED_DATABASE_URL="postgresql://db/x",
        )
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_bad_toml_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "default.toml").write_text("env = [unclosed")
    with pytest.raises(SettingsError, match="not valid TOML"):
        _load(tmp_path, MICROCRED_CONFIG_DIR=str(config))


@given(st.text(max_size=40))
def test_any_public_url_is_accepted_or_refused_cleanly(value: str) -> None:
    try:
        settings = load_settings(
            {
                "MICROCRED_PUBLIC_URL": value,
                "MICROCRED_SECRET_KEY": "k" * 40,
                "MICROCRED_DATABASE_URL": "sqlite://",
            }
        )
    except SettingsError:
        return
    assert settings.public_url.startswith(("http://", "https://"))
