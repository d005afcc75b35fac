"""The fast tier: ``make test-fast`` runs every test not marked ``process`` (``-m "not process"``).

A test belongs to the slow tier when it starts a process or a server of its own (a
worker, an API, ``make run``, a migration as a subprocess, a MariaDB or Redis it may
stop): those tests carry ``@pytest.mark.process``, set by hand on the test or its
module, and set here for every test that uses a fixture starting one
(``PROCESS_FIXTURES``).

So that the mark cannot be forgotten, a test without it that starts a process fails,
naming the mark: ``subprocess.Popen`` refuses to start a child while such a test is set
up, run or torn down. The one exception is the embedded Redis that the session itself
starts when no ``TEST_REDIS_URL`` is given (``SESSION_SERVER_FIXTURES``): it is shared by
the whole run, fast tier included, and is not the test's own.
"""

from __future__ import annotations

import subprocess
from collections.abc import Generator
from typing import Any

import pytest

PROCESS_MARK = "process"
PROCESS_FIXTURES = frozenset({"worker_process"})
SESSION_SERVER_FIXTURES = frozenset({"redis_url"})


class UnmarkedProcessError(RuntimeError):
    """A test without the ``process`` mark tried to start a process."""


class _Permission:
    """Whether starting a child process is allowed right now (the test running is marked)."""

    allowed = True


_original_execute_child: Any = subprocess.Popen._execute_child  # type: ignore[attr-defined]


def _guarded_execute_child(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> Any:
    if not _Permission.allowed:
        raise UnmarkedProcessError(
            f"this test starts a process ({args!r}) but is not marked: add @pytest.mark.{PROCESS_MARK} "
            "to it (or pytestmark to its module), so that make test-fast leaves it out"
        )
    return _original_execute_child(self, args, *rest, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    subprocess.Popen._execute_child = _guarded_execute_child  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    subprocess.Popen._execute_child = _original_execute_child  # type: ignore[attr-defined]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(PROCESS_MARK)


def _while_item(item: pytest.Item) -> Generator[None, Any, Any]:
    _Permission.allowed = item.get_closest_marker(PROCESS_MARK) is not None
    try:
        return (yield)
    finally:
        _Permission.allowed = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _while_item(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _while_item(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    return (yield from _while_item(item))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    if fixturedef.argname not in SESSION_SERVER_FIXTURES:
        return (yield)
    before, _Permission.allowed = _Permission.allowed, True
    try:
        return (yield)
    finally:
        _Permission.allowed = before
