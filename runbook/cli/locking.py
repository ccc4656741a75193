"""Lab locks in the commands that touch hosts (`apply`, `power`): their two options and what
a lock problem means for the exit status. The locking itself is `runbook.locks.hold_lab_locks`,
which each command wraps around its run (docs/locks.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from runbook.errors import LockError, LockSpecError

#: Hosts locked by someone else (at the --lock-wait deadline), the backend unusable, or the
#: run lost its lock.
EXIT_LOCKED = 3


def lock_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--lock-wait SECONDS` and `--no-lock` (click options; keyword args lock_wait, no_lock)."""
    func = click.option("--no-lock", is_flag=True,
                        help="Break-glass: take no lab locks for this run (report and recap "
                             "say so).")(func)
    return click.option("--lock-wait", type=click.FloatRange(min=0, max=7 * 24 * 3600),
                        default=0.0, metavar="SECONDS", show_default=True,
                        help="Wait this long for hosts someone else holds, then exit 3 "
                             "naming them.")(func)


def lock_failure(exc: LockError | LockSpecError) -> tuple[int, str]:
    """(exit status, message) for a lock problem before the run could start."""
    if isinstance(exc, LockSpecError):
        return 2, f"runbook: lab locks: {exc.message}"
    return EXIT_LOCKED, f"runbook: {exc}"
