"""`finite_number`: the one check that a value is a real, finite number of seconds (or so);
`parse_duration`: the one reading of a duration written `2h`, `90m`, `1h30m`, `45s`, `1d`."""

from __future__ import annotations

import math
import re
from typing import TypeGuard

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def finite_number(value: object) -> TypeGuard[int | float]:
    """An int or float that is not a bool, infinity or NaN (`nan < 0` is False: NaN would
    otherwise pass a range check and make a sleep or timeout meaningless)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def parse_duration(text: str) -> float:
    """`2h`, `90m`, `1h30m`, `45s`, `1d` -> seconds (> 0); ValueError for anything else."""
    compact = text.strip().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration: write e.g. 2h, 90m, 1h30m, 45s or 1d")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is no time at all: give a positive duration")
    return seconds
