"""Rolling batches: a run's hosts split, in lab order, into groups that go through the steps
one group after another; and `max_failed`, the failures tolerated before no further batch
starts.

`batch: 2` makes batches of 2; `batch: "25%"` of a quarter of all the run's hosts (rounded
up); `batch: [1, 5, "50%"]` a canary of 1, then 5, then halves (the last size repeats).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from runbook.errors import ConfigError

T = TypeVar("T")
BatchSpec = int | str | Sequence[int | str] | None


def size_of(size: int | str, total: int) -> int:
    """One batch size: N, or "N%" of `total` rounded up (at least 1)."""
    if isinstance(size, str):
        text = size.strip()
        if not text.endswith("%") or not text[:-1].isdigit():
            raise ConfigError(f"batch size {size!r} is not a number or a percentage like '25%'")
        return max(1, math.ceil(total * int(text[:-1]) / 100))
    if isinstance(size, bool) or size < 1:
        raise ConfigError(f"batch size {size!r} must be at least 1")
    return int(size)


def split(items: Sequence[T], spec: BatchSpec, total: int | None = None) -> list[list[T]]:
    """`items` in batches per `spec` (None: one batch of all); percentages are of `total`
    (default: len(items))."""
    if spec is None or not items:
        return [list(items)] if items else []
    sizes = [spec] if isinstance(spec, int | str) else list(spec)
    whole = len(items) if total is None else total
    batches: list[list[T]] = []
    start = 0
    for i in range(len(items)):
        if start >= len(items):
            break
        size = size_of(sizes[min(i, len(sizes) - 1)], whole)
        batches.append(list(items[start:start + size]))
        start += size
    return batches


def failure_limit(spec: int | str, total: int) -> int:
    """How many failed hosts `max_failed` tolerates: N, or "N%" of `total` (rounded down)."""
    if isinstance(spec, str):
        text = spec.strip()
        if not text.endswith("%") or not text[:-1].isdigit():
            raise ConfigError(f"max_failed {spec!r} is not a number or a percentage like '10%'")
        return math.floor(total * int(text[:-1]) / 100)
    return max(0, int(spec))
