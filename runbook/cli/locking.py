"""Lab locks in the commands that touch hosts (`apply`, `power`): their two options, what a
lock problem means for the exit status, and `apply`'s run inside the locks. The locking
itself is `runbook.locks.hold_lab_locks`, which each command wraps around its run
(docs/locks.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from runbook.cli.exits import EXIT_LOCKED, EXIT_USAGE
from runbook.cli.params import FiniteFloatRange
from runbook.errors import LockError, LockSpecError

if TYPE_CHECKING:
    from runbook.cli.console import Console
    from runbook.engine.results import RunOutcome
    from runbook.engine.runner import Runner
    from runbook.locks import HostLock

__all__ = ["EXIT_LOCKED", "lock_failure", "lock_options", "locks_refused", "run_locked",
           "waiting_message"]


def lock_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--lock-wait SECONDS` and `--no-lock` (click options; keyword args lock_wait, no_lock)."""
    func = click.option("--no-lock", is_flag=True,
                        help="Break-glass: take no lab locks for this run (report and recap "
                             "say so).")(func)
    return click.option("--lock-wait", type=FiniteFloatRange(min=0, max=7 * 24 * 3600),
                        default=0.0, metavar="SECONDS", show_default=True,
                        help="Wait this long for hosts someone else holds, then exit 3 "
                             "naming them.")(func)


def waiting_message(lock_wait: float, conflicts: list[HostLock]) -> str:
    """What `apply` and `power` say once when they start waiting for hosts held by others."""
    return (f"waiting up to {lock_wait:g}s for hosts locked by someone else:\n"
            + "\n".join(f"  {c.describe()}" for c in conflicts))


def lock_failure(exc: LockError | LockSpecError) -> tuple[int, str]:
    """(exit status, message) for a lock problem before the run could start."""
    if isinstance(exc, LockSpecError):
        return EXIT_USAGE, f"runbook: lab locks: {exc.message}"
    return EXIT_LOCKED, f"runbook: {exc}"


async def run_locked(executor: Runner, console: Console, *, lock_wait: float,
                     no_lock: bool) -> None:
    """`executor.run()` inside the lab locks of every host the plan targets (docs/locks.md),
    whichever part of a multi-site run drives it (docs/sites.md).

    Taking them may wait `lock_wait` seconds and raises LockError when it cannot (exit 3).
    If a renewal fails, no new step (or host) starts, the `always` steps of the blocks the
    hosts entered still run (`Executor.halt`, as after fail_fast), and the run ends with
    exit 3. The leases are given back on every way out, cancellation included.
    """
    import asyncio

    from runbook.locks import hold_lab_locks

    def lost(reason: str) -> None:
        cleanup = " (the pending `always` steps still run)" if executor.cleanup_budget() else ""
        console.note(f"{reason}: no new steps start{cleanup}")
        executor.halt(reason)

    def waiting(conflicts: list[HostLock]) -> None:
        console.note(waiting_message(lock_wait, conflicts))

    plan = executor.plan
    try:
        # a recorded run's leases carry its run folder's id (`runbook show RUN` finds it)
        async with hold_lab_locks(plan.lab, [h.id for h in plan.hosts], wait=lock_wait,
                                  disabled=no_lock, on_lost=lost, on_wait=waiting,
                                  run_id=executor.outcome.run_id) as held:
            executor.outcome.locks = held.to_dict()
            if held.skipped:
                console.note("--no-lock: running without lab locks (break-glass)")
            try:
                await executor.run()
            finally:
                executor.outcome.locks = held.to_dict()
    except asyncio.CancelledError:
        if executor.outcome.ended is None:  # interrupted while waiting for the locks
            executor.abandon()
        raise
    executor.outcome.locks = held.to_dict()


def locks_refused(outcome: RunOutcome, exc: LockError | LockSpecError,
                  mask: Callable[[str], str]) -> int:
    """Nothing ran because the locks could not be taken: say why, record it, exit 3 (or 2)."""
    import time

    from runbook.engine.results import RunStatus

    code, message = lock_failure(exc)
    click.echo(mask(message), err=True)
    outcome.status, outcome.ended = RunStatus.FAILED, time.time()
    outcome.locks = {"refused": mask(str(exc))}
    return code
