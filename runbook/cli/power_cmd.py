"""`runbook power PATTERN on|off|cycle|status`: drive lab hosts' power controllers ad hoc.

Thin layer: loads the lab, selects hosts, runs the Host power API concurrently and prints one
line per host as each finishes. Exit codes match `apply`: 0 all ok, 1 a host failed or did
not come up/go down in time, 2 invalid input or usage, 3 hosts locked by someone else (or the
lock was lost; docs/locks.md), 130 interrupted. SIGINT, SIGTERM and SIGHUP are handled like in
`apply` (runbook.cli.signals): the running actions are cancelled, which
kills the controller commands' process groups, and unfinished hosts are listed.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from runbook.cli.exits import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
    exit_130_on_interrupt,
    fail,
)
from runbook.cli.labopt import find_lab_file, lab_option
from runbook.cli.locking import lock_failure, lock_options, waiting_message
from runbook.cli.signals import hold_signals_until_exit, interrupts_raise, run_interruptible
from runbook.errors import ConfigError, LockError, LockSpecError, RunbookError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from runbook.hosts.base import Host
    from runbook.hosts.lab import Lab
    from runbook.locks import HostLock
    from runbook.render.secrets import SecretStore



@click.command("power")
@click.argument("pattern")
@click.argument("action", type=click.Choice(["on", "off", "cycle", "status"]))
@lab_option
@click.option("--wait", "wait", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="After on/cycle wait until each host answers SSH; after off until it "
                   "stops answering. A host that does not in time fails.")
@click.option("--secrets", "secrets_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML file of secrets (NAME: value) for secret() in the lab.")
@click.option("--check", is_flag=True,
              help="Print what each controller would do (commands, requests); change nothing.")
@click.option("--site", default=None, metavar="NAME",
              help="This machine is inside site NAME (docs/sites.md): power its hosts "
                   "from here. Without it a site's hosts are refused.")
@lock_options
@exit_130_on_interrupt
@interrupts_raise()
def power_command(pattern: str, action: str, *, lab_path: Path | None, wait: float | None,
                  secrets_file: Path | None, check: bool, site: str | None, lock_wait: float,
                  no_lock: bool) -> None:
    """Power hosts whose id matches the regex PATTERN on, off, cycle them, or show status.

    \b
    Examples:
      runbook power web status --lab lab.yml
      runbook power '^node[0-9]+$' cycle --wait 300
    One line per host: HOST ACTION ok|FAILED MESSAGE.
    on, off and cycle first take the lab locks of the hosts (not status).
    A host a site's worker drives is refused (exit 2) unless --site names its site.
    Exit codes: 0 all ok; 1 a host failed; 2 invalid input or usage; 3 hosts locked by
    someone else, or the lock was lost; 130 interrupted.
    """
    _check_usage(pattern, action, wait)
    path = find_lab_file(lab_path, "power")
    secrets, lab = _load(path, secrets_file)
    hosts = _targets(lab, pattern, waits=wait is not None, check=check, site=site)
    if check:
        for host in hosts:
            click.echo(secrets.mask(_describe(host, action, wait)))
        unpowered = any(host.power_control is None for host in hosts)
        raise SystemExit(EXIT_FAILED if unpowered else EXIT_OK)
    try:
        code = asyncio.run(_power_all(lab, hosts, action, wait, secrets.mask,
                                      lock_wait=lock_wait, no_lock=no_lock))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except (LockError, LockSpecError) as exc:
        code, message = lock_failure(exc)
        click.echo(secrets.mask(message), err=True)
    hold_signals_until_exit()
    raise SystemExit(code)


def _check_usage(pattern: str, action: str, wait: float | None) -> None:
    if wait is not None and action == "status":
        raise click.UsageError("--wait applies to on, off and cycle, not status")
    if wait is not None and not math.isfinite(wait):
        raise click.UsageError(f"--wait must be a finite number of seconds, not {wait}")
    if not pattern.strip():  # `runbook power "$NODE" off` with NODE unset: not the whole lab
        raise click.UsageError(f"PATTERN {pattern!r} is empty, which would match every host: "
                               "give a pattern ('.' for all hosts)")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise click.UsageError(f"PATTERN {pattern!r} is not a valid regex: {exc}") from None


def _load(path: Path, secrets_file: Path | None) -> tuple[SecretStore, Lab]:
    """The secrets and the lab (`runbook.api.load_lab`); exits 2 when the lab is invalid."""
    from runbook import api
    from runbook.render.secrets import SecretStore

    try:
        secrets = SecretStore(secrets_file=secrets_file)
        return secrets, api.load_lab(path, secrets=secrets)
    except (ConfigError, RunbookError) as exc:
        text = str(exc) if str(path) in str(exc) else f"invalid lab {path}: {exc}"
        _fail(text)


def _targets(lab: Lab, pattern: str, *, waits: bool, check: bool,
             site: str | None) -> list[Host]:
    """`runbook.api.power_targets`; exits 2 when none matches, one is another site's, or a
    secret is missing."""
    from runbook import api

    try:
        return api.power_targets(lab, pattern, waits=waits, dry_run=check, site=site)
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    """Exit 2 (invalid input) with `message`, prefixed with the command's name."""
    fail(f"runbook power: {message}")


def _describe(host: Host, action: str, wait: float | None) -> str:
    controller = host.power_control
    if controller is None:
        return f"{host.id}  {action}  FAILED  no power_control in the lab for this host"
    text = controller.describe(host, action)
    if wait is not None:
        text += f"; then wait up to {wait:g}s for it to go {'down' if action == 'off' else 'up'}"
    return f"{host.id}  {action}  would: {text}"


async def _power_all(lab: Lab, hosts: list[Host], action: str, wait: float | None,
                     mask: Callable[[str], str], *, lock_wait: float = 0.0,
                     no_lock: bool = False) -> int:
    """Run `action` on every host concurrently; print a masked line per host as it ends.

    Returns the exit status. SIGINT/SIGTERM/SIGHUP cancel the hosts still working (killing
    their controller commands), close the lab and list those hosts as INTERRUPTED. The hosts'
    lab locks are held around it (`status` only reads: it takes none); LockError when they are
    held by someone else, exit 3 when they are lost on the way.
    """
    width = max(len(h.id) for h in hosts)
    finished: dict[str, bool] = {}
    doing = dict.fromkeys((h.id for h in hosts), _STARTING)

    def line(host_id: str, word: str, message: str) -> None:
        click.echo(mask(f"{host_id:<{width}}  {action:<6}  {word:<6}  {message}"))

    def list_unfinished() -> None:
        for host in hosts:
            if host.id not in finished:
                line(host.id, "INTERRUPTED", _interrupted_message(host.id, action, doing[host.id]))
        click.echo(f"interrupted: {len(finished)} of {len(hosts)} hosts finished", err=True)

    def on_signal(name: str) -> None:
        click.echo(f"{name}: stopping, killing running power commands (again to exit at once)",
                   err=True)

    def force_exit(reason: str) -> None:
        click.echo(f"{reason}: exiting now, without waiting for the cleanup", err=True)
        list_unfinished()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    async def one(host: Host) -> None:
        ok, message = await _power_one(host, action, wait, doing)
        finished[host.id] = ok
        line(host.id, "ok" if ok else "FAILED", message)

    async def everyone() -> None:
        await asyncio.gather(*(one(h) for h in hosts))

    locked = _under_locks(lab, [h.id for h in hosts], everyone, mask,
                          lock_wait=lock_wait, no_lock=no_lock, reads_only=action == "status")
    outcome = await run_interruptible(locked, on_signal=on_signal, force_exit=force_exit)
    if outcome.interrupted:
        list_unfinished()
        return EXIT_INTERRUPTED
    return _finished_status(outcome.result, finished)


def _finished_status(lost: str | None, finished: dict[str, bool]) -> int:
    """Exit 3 when the locks were lost on the way, else 0 when every host succeeded, else 1."""
    if lost is not None:
        return EXIT_LOCKED
    return EXIT_OK if all(finished.values()) else EXIT_FAILED


async def _under_locks(lab: Lab, host_ids: list[str], work: Callable[[], Awaitable[None]],
                       mask: Callable[[str], str], *, lock_wait: float, no_lock: bool,
                       reads_only: bool) -> str | None:
    """Await `work()` holding the lab locks of `host_ids`, then close the lab; returns why
    the locks were lost on the way, or None. `no_lock` (break-glass, said on stderr) and
    `reads_only` (`status`) take none. Waiting for held hosts is said on stderr, as in
    `apply`."""
    from runbook.locks import hold_lab_locks

    def lost(reason: str) -> None:
        click.echo(mask(f"{reason}: the power actions already started finish"), err=True)

    def waiting(conflicts: list[HostLock]) -> None:
        click.echo(mask(waiting_message(lock_wait, conflicts)), err=True)

    try:
        async with hold_lab_locks(lab, host_ids, wait=lock_wait, disabled=no_lock or reads_only,
                                  on_lost=lost, on_wait=waiting) as held:
            if held.skipped and not reads_only:
                click.echo("--no-lock: powering without lab locks (break-glass)", err=True)
            await work()
        return held.lost
    finally:
        await lab.close()


_STARTING, _SWITCHING, _WAITING = "starting", "switching", "waiting"


def _interrupted_message(host_id: str, action: str, doing: str) -> str:
    """Why an interrupted host's state is uncertain, and how to find out."""
    if action == "status":
        return "while asking the controller for the power state"
    check = f"check with `runbook power '^{re.escape(host_id)}$' status`"
    if doing == _WAITING:
        verb = "go down" if action == "off" else "answer"
        return f"power {action} done, interrupted while waiting for it to {verb}; {check}"
    return f"while running the power command; power state unknown: {check}"


async def _power_one(host: Host, action: str, wait: float | None,
                     doing: dict[str, str]) -> tuple[bool, str]:
    """One host's outcome as (ok, one-line message); errors (not cancellation) never escape.

    `doing[host.id]` follows the progress, for the message when the command is interrupted.
    """
    try:
        doing[host.id] = _SWITCHING
        if action == "status":
            state = await host.power_status()
            return True, str(state) if state is not None else "unknown (controller has no status)"
        status, message = await host.power(action)
        if not status.is_ok:
            return False, _one_line(message)
        if wait is not None:
            doing[host.id] = _WAITING
            came = (await host.wait_until_down(wait) if action == "off"
                    else await host.wait_until_up(wait))
            if not came:
                verb = "go down" if action == "off" else "answer"
                return False, f"{_one_line(message)}; did not {verb} within {wait:g}s"
            message += "; down" if action == "off" else "; up"
        return True, _one_line(message)
    except RunbookError as exc:
        return False, _one_line(str(exc))
    except Exception as exc:
        return False, f"internal error: {type(exc).__name__}: {_one_line(str(exc))}"


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
