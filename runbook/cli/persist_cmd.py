"""`runbook persist`: the status of this user's connection keeper (warm re-runs), or stop it.

Exit codes: 0 done (also when no keeper runs); 2 usage; 3 the keeper did not stop in time
or its folder is not private.
"""

from __future__ import annotations

import time
from typing import Any

import click

from runbook.cli.exits import fail
from runbook.errors import KeeperError

STOP_TIMEOUT = 10.0
EXIT_STUCK = 3


def _status_lines(status: dict[str, Any], socket: str) -> list[str]:
    idle_in = status.get("idle_exit_in")
    when = (f"exits after {idle_in:.0f} s more without a run" if idle_in is not None
            else f"{status['clients']} run(s) connected")
    conns = status["connections"]
    lines = [f"keeper: pid {status['pid']}, socket {socket}",
             f"  idle time {status['idle']:g} s; {when}",
             f"  {len(conns)} connection(s) kept ({status['opened']} opened, "
             f"{status['reused']} reuses), {status.get('spares', 0)} spare shell(s)"]
    lines += [f"    {c['label']}  (open {time.time() - c['opened']:.0f} s, {c['uses']} reuses)"
              for c in conns]
    return lines


@click.command("persist")
@click.option("--status", "action", flag_value="status", default=True,
              help="Show the keeper: pid, idle deadline, kept connections (the default).")
@click.option("--stop", "action", flag_value="stop",
              help="Stop the keeper: it closes every kept connection and exits.")
def persist_command(action: str) -> None:
    """Show or stop your keeper of warm SSH connections (`apply --persist DURATION`).

    \b
    Exit codes: 0 done (also when no keeper runs); 3 the keeper did not stop
    within 10 s, or its folder is open to others.
    """
    from runbook.persist import socket_path
    from runbook.persist.client import control, keeper_alive

    try:
        socket = str(socket_path())
        status = control(action)
    except KeeperError as exc:
        fail(str(exc), EXIT_STUCK)
    if status is None:
        click.echo(f"no keeper running ({socket})")
        return
    if action == "status":
        click.echo("\n".join(_status_lines(status, socket)))
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while keeper_alive(status["pid"]):
        if time.monotonic() > deadline:
            fail(f"the keeper (pid {status['pid']}) did not exit within {STOP_TIMEOUT:g} s",
                 EXIT_STUCK)
        time.sleep(0.05)
    click.echo(f"keeper (pid {status['pid']}) stopped; {len(status['connections'])} "
               "connection(s) closed")
