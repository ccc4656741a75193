"""Fixtures of the lock end-to-end tests (the redis-server fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.locks.lockrun import ApplyRun, PowerRun


@pytest.fixture
def runs() -> Iterator[list[ApplyRun]]:
    """`runbook apply` runs a test started: let go and reaped (killed if need be) after it."""
    started: list[ApplyRun] = []
    yield started
    for run in started:
        run.go()
        run.kill()


@pytest.fixture
def powers() -> Iterator[list[PowerRun]]:
    """`runbook power` runs a test started: let go and reaped (killed if need be) after it."""
    started: list[PowerRun] = []
    yield started
    for run in started:
        run.go()
        run.kill()
