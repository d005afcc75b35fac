"""The suite's own wiring: whatever a test or a process it starts writes goes outside the checkout."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from shared.settings import Settings

CHECKOUT = Path(__file__).resolve().parents[1]


def outside_the_checkout(path: str | Path) -> bool:
    return not Path(path).resolve().is_relative_to(CHECKOUT)


def test_the_run_settings_write_nowhere_in_the_checkout(settings: Settings) -> None:
    assert outside_the_checkout(settings.import_dir)
    assert outside_the_checkout(settings.export_dir)
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        assert outside_the_checkout(url.database or "")


def test_processes_started_for_the_run_write_nowhere_in_the_checkout(worker_env: dict[str, str]) -> None:
    assert outside_the_checkout(worker_env["IMPORT_DIR"])
    assert outside_the_checkout(worker_env["EXPORT_DIR"])
