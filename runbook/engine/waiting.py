"""Executing `wait_for` and `interact` actions on one host (`engine.actions` dispatches here).

The waits themselves live in `runbook.hosts.waits`; a wait that times out raises
`WaitTimeoutError`, which `engine.actions.execute` turns into a failure of the host naming what
was awaited and for how long. `elapsed` (seconds) goes to the registered result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

from runbook.engine.logged import logged_command
from runbook.plan.actions import InteractDialog, WaitFor, WaitForCommand, WaitForPath, WaitForPort

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.hostlog import HostLog


async def wait(action: WaitFor, host: Host) -> tuple[str, float]:
    """Wait on (or, for a port, towards) `host` until the condition holds: (what held, elapsed
    seconds); raises `WaitTimeoutError` on timeout."""
    from runbook.hosts.waits import wait_for_command, wait_for_path, wait_for_port

    if isinstance(action, WaitForPort):
        state = cast(Literal["started", "stopped"], action.state)
        elapsed = await wait_for_port(host, action.port, state=state, address=action.address,
                                      timeout=action.timeout, delay=action.delay)
        what = f"port {action.address or host.address}:{action.port} {action.state}"
    elif isinstance(action, WaitForPath):
        present = cast(Literal["present", "absent"], action.state)
        elapsed = await wait_for_path(host, action.path, state=present, contains=action.contains,
                                      timeout=action.timeout, delay=action.delay,
                                      become=action.become, become_user=action.become_user)
        what = f"{action.path} {action.state}"
    else:
        assert isinstance(action, WaitForCommand)
        elapsed = await wait_for_command(host, action.command, timeout=action.timeout,
                                         delay=action.delay, become=action.become,
                                         become_user=action.become_user)
        what = f"command {action.command!r} exited 0"
    return f"{what} after {elapsed:.1f}s\n", elapsed


async def interact(action: InteractDialog, host: Host, timeout: float | None,
                   log: HostLog | None = None) -> tuple[bool, str, str]:
    """Play the dialog in a terminal session of `host` (the step's `timeout` bounds it all):
    (completed, the dialog's output, why it stopped). `log`, the host's transcript, gets the
    dialog as one command: every key sent and everything received."""
    pairs = [pair.as_mapping() for pair in action.pairs]
    if log is None:
        result = await host.interact(pairs, timeout)
    else:
        title = " | ".join(str(pair.get("expect", "(send)")) for pair in pairs)
        result = await logged_command(log, title, "interact",
                                      lambda: host.interact(pairs, timeout, log=log))
    if result.status.is_ok:
        return True, result.output, ""
    last = result.output.rstrip("\n").rpartition("runbook: ")[2]
    return False, result.output, last.splitlines()[0] if last else "the dialog failed"
