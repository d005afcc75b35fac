"""Settings refuse to run production on a guessable JWT secret, and read CORS origins as a list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.settings import DEV_JWT_SECRET, MIN_PRODUCTION_SECRET_LENGTH, InsecureSettingsError, Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "secret",
    [DEV_JWT_SECRET, "", "short", "x" * (MIN_PRODUCTION_SECRET_LENGTH - 1)],
    ids=["the development default", "empty", "short", "one too short"],
)
def test_production_refuses_a_default_or_short_secret(secret: str) -> None:
    with pytest.raises(InsecureSettingsError, match="JWT_SECRET"):
        settings(env="production", jwt_secret=secret)


def test_production_refuses_a_missing_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(InsecureSettingsError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_production_runs_with_a_long_enough_secret() -> None:
    secret = "k" * MIN_PRODUCTION_SECRET_LENGTH
    assert settings(env="production", jwt_secret=secret).jwt_secret == secret


def test_development_runs_on_the_default_secret() -> None:
    assert settings().jwt_secret == DEV_JWT_SECRET


def test_cors_origins_are_a_comma_separated_list_and_empty_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().cors_origins == []
    monkeypatch.setenv("CORS_ORIGINS", " https://app.example.com, https://admin.example.com ,")
    assert Settings(_env_file=None).cors_origins == ["https://app.example.com", "https://admin.example.com"]  # type: ignore[call-arg]


SETTINGS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def documented_settings() -> set[str]:
    """The variables named in the first cell of the tables under "## The settings object"."""
    section = SETTINGS_PAGE.read_text().split("\n## The settings object\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return names


def test_every_setting_is_documented_on_the_settings_page_and_nothing_else_is() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    documented = documented_settings()
    assert fields - documented == set(), "add these settings to docs/settings.md"
    assert documented - fields == set(), "docs/settings.md names settings that no longer exist"


def test_a_negative_collection_interval_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="worker_gc_interval_seconds"):
        settings(worker_gc_interval_seconds=-1)
