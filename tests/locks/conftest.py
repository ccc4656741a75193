"""Fixtures of the lock end-to-end tests (the redis-server fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.locks.lockrun import ApplyRun


@pytest.fixture
def runs() -> Iterator[list[ApplyRun]]:
    """`runbook apply` runs a test started: let go and reaped (killed if need be) after it."""
    started: list[ApplyRun] = []
    yield started
    for run in started:
        run.go()
        run.kill()
