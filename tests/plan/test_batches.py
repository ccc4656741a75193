"""Batch sizes (N, "N%" of all the run's hosts rounded up, lists whose last size repeats) and
max_failed."""

from __future__ import annotations

import pytest

from runbook.errors import ConfigError
from runbook.plan.batches import failure_limit, split

HOSTS = [f"h{i:02d}" for i in range(1, 21)]


@pytest.mark.parametrize(("spec", "sizes"), [
    (None, [20]), (6, [6, 6, 6, 2]), ("25%", [5, 5, 5, 5]), ("30%", [6, 6, 6, 2]),
    ([1, 5, "50%"], [1, 5, 10, 4]), ([2], [2] * 10), ("100%", [20]),
])
def test_split_in_lab_order(spec: object, sizes: list[int]) -> None:
    batches = split(HOSTS, spec)  # type: ignore[arg-type]
    assert [len(b) for b in batches] == sizes
    assert [h for b in batches for h in b] == HOSTS


def test_percentages_are_of_all_the_run_hosts() -> None:
    assert [len(b) for b in split(HOSTS[:4], "10%", total=20)] == [2, 2]


def test_failure_limit() -> None:
    assert failure_limit(0, 20) == 0
    assert failure_limit(3, 20) == 3
    assert failure_limit("10%", 20) == 2
    assert failure_limit("9%", 20) == 1
    with pytest.raises(ConfigError):
        failure_limit("ten", 20)
