"""`finite_number`: the one check that a value is a real, finite number of seconds (or so)."""

from __future__ import annotations

import math
from typing import TypeGuard


def finite_number(value: object) -> TypeGuard[int | float]:
    """An int or float that is not a bool, infinity or NaN (`nan < 0` is False: NaN would
    otherwise pass a range check and make a sleep or timeout meaningless)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False
