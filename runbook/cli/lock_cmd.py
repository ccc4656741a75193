"""`runbook lock`, `runbook unlock` and `runbook locks` (alias `runbook who`): manual
reservations of lab hosts and who holds what (docs/locks.md).

Exit codes: 0 done; 2 invalid input or usage; 3 a host is held by someone else (nothing was
reserved) or the lock backend could not be used; 130 interrupted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runbook._numbers import parse_duration as read_duration
from runbook.cli.exits import exit_130_on_interrupt
from runbook.cli.labopt import find_lab_file, lab_option
from runbook.errors import ConfigError, LockError, RunbookError

if TYPE_CHECKING:
    from runbook.hosts.lab import Lab
    from runbook.locks import HostLock, LockBackend

T = TypeVar("T")
EXIT_OK, EXIT_USAGE, EXIT_LOCKED = 0, 2, 3
MAX_RESERVATION_S = 365 * 86400


def parse_duration(text: str) -> float:
    """`2h`, `90m`, `1h30m`, `45s`, `1d` -> seconds (at most 365 days); ValueError for
    anything else."""
    seconds = read_duration(text)
    if seconds > MAX_RESERVATION_S:
        raise ValueError(f"{text!r} is too long: a reservation lasts at most 365d")
    return seconds


def _lab_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--secrets", "secrets_file",
                        type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        help="YAML file of secrets (NAME: value), e.g. for the redis URL.")(func)
    return lab_option(func)


class _Session:
    """The lab, its lock backend and the masking of one command."""

    def __init__(self, command: str, lab_path: Path | None, secrets_file: Path | None) -> None:
        from runbook.language.labfile import load_lab
        from runbook.locks.config import lab_lock_config
        from runbook.render.secrets import SecretStore

        path = find_lab_file(lab_path, command)
        self.mask: Callable[[str], str] = str
        try:
            secrets = SecretStore(secrets_file=secrets_file)
            self.mask = secrets.mask
            self.lab: Lab = load_lab(path, secrets=secrets)
            self.backend: LockBackend = lab_lock_config(self.lab).backend()
        except (ConfigError, RunbookError) as exc:
            raise _exit(EXIT_USAGE, str(exc), self.mask) from None

    def hosts(self, pattern: str) -> list[str]:
        """Lab hosts whose id the regex `pattern` is found in (exit 2 when none is)."""
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise click.UsageError(f"PATTERN {pattern!r} is not a valid regex: {exc}") from None
        # built-in hosts (`local`, this machine) are never locked by a run (docs/locks.md)
        builtin = set(self.lab.builtin)
        matched = [h.id for h in self.lab.select(compiled)]
        selected = [h for h in matched if h not in builtin]
        if not selected:
            ids = ", ".join(h.id for h in self.lab.hosts if h.id not in builtin) or "none"
            why = (f"{', '.join(matched)} is built in (this machine) and never locked; "
                   if matched else "")
            raise _exit(EXIT_USAGE, f"no lockable host of the lab matches {pattern!r} ({why}"
                        f"hosts: {ids})", self.mask)
        return selected

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` against the backend, closing it; backend errors exit 3."""
        async def bounded() -> T:
            try:
                return await work
            finally:
                await self.backend.close()

        try:
            return asyncio.run(bounded())
        except LockError as exc:
            raise _exit(EXIT_LOCKED, str(exc), self.mask) from None

    def echo(self, text: str) -> None:
        click.echo(self.mask(text))


def _exit(code: int, message: str, mask: Callable[[str], str]) -> SystemExit:
    click.echo(mask(f"runbook: {message}"), err=True)
    return SystemExit(code)


@click.command("lock")
@click.argument("pattern")
@click.option("--for", "duration", required=True, metavar="DURATION",
              help="How long: 2h, 90m, 1h30m, 1d. The reservation expires on its own.")
@click.option("--note", default="", help="Why, shown to everyone by `runbook locks`.")
@_lab_options
@exit_130_on_interrupt
def lock_command(pattern: str, duration: str, note: str, lab_path: Path | None,
                 secrets_file: Path | None) -> None:
    """Reserve the hosts whose id matches the regex PATTERN for a while (all or none).

    \b
    Example: runbook lock '^router[12]$' --for 2h --note "firmware bisect"
    Your own runs may still use hosts you reserved; everyone else's wait or exit 3.
    Exit codes: 0 reserved; 2 invalid input; 3 a host is held by someone else.
    """
    from runbook.locks import held_message, make_holder

    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    session = _Session("lock", lab_path, secrets_file)
    hosts = session.hosts(pattern)
    holder = make_holder(None, note=note)

    async def reserve() -> tuple[list[HostLock], list[HostLock]]:
        conflicts = await session.backend.acquire(hosts, holder, seconds)
        if conflicts:
            return conflicts, []
        return [], [h for h in await session.backend.holders() if h.host in hosts]

    conflicts, taken = session.run(reserve())
    if conflicts:
        text = held_message(conflicts, 0, "ask the holder, or see `runbook locks`")
        raise _exit(EXIT_LOCKED, "nothing reserved: " + text, session.mask)
    for lock in taken:
        kept = "" if lock.holder.token == holder.token else " (your earlier reservation, kept)"
        session.echo(lock.describe() + kept)


@click.command("unlock")
@click.argument("pattern")
@click.option("--force", is_flag=True,
              help="Also release other people's leases (recorded with your name).")
@_lab_options
@exit_130_on_interrupt
def unlock_command(pattern: str, force: bool, lab_path: Path | None,
                   secrets_file: Path | None) -> None:
    """Release your own reservations (and leases) on hosts whose id matches PATTERN.

    \b
    --force releases anyone's; the holder's run then stops, saying who forced it.
    Exit codes: 0 released (or nothing held); 2 invalid input; 3 a host stays held by
    someone else (use --force).
    """
    from runbook.locks import whoami

    session = _Session("unlock", lab_path, secrets_file)
    wanted = set(session.hosts(pattern))
    user, machine = whoami()
    me = f"{user}@{machine}"

    async def release() -> tuple[list[HostLock], list[HostLock]]:
        locks = [h for h in await session.backend.holders() if h.host in wanted]
        mine = [h for h in locks if h.holder.owner == me]
        others = [h for h in locks if h.holder.owner != me]
        for lock in mine:
            await session.backend.release([lock.host], lock.holder)
        if force and others:
            others = await session.backend.force_release([h.host for h in others], me)
            return mine + others, []
        return mine, others

    released, kept = session.run(release())
    for lock in released:
        forced = f"; forced by {me} (recorded)" if lock.holder.owner != me else ""
        session.echo(f"released {lock.describe()}{forced}")
    for lock in kept:
        session.echo(f"not released (not yours; --force releases it): {lock.describe()}")
    if not released and not kept:
        session.echo(f"nothing to release: no lease on {', '.join(sorted(wanted))}")
    raise SystemExit(EXIT_LOCKED if kept else EXIT_OK)


@click.command("locks")
@click.argument("pattern", required=False)
@_lab_options
@exit_130_on_interrupt
def locks_command(pattern: str | None, lab_path: Path | None,
                  secrets_file: Path | None) -> None:
    """Show who holds which host: holder, run id or manual, since, until, note.

    \b
    PATTERN (a regex found in the host id) narrows the list. `runbook who` is the same.
    Exit codes: 0 listed; 2 invalid input; 3 the lock backend could not be used.
    """
    from runbook._text import one_line
    from runbook.locks import format_time

    session = _Session("locks", lab_path, secrets_file)
    try:
        compiled = re.compile(pattern or "")
    except re.error as exc:
        raise click.UsageError(f"PATTERN {pattern!r} is not a valid regex: {exc}") from None
    locks = [h for h in session.run(session.backend.holders()) if compiled.search(h.host)]
    if not locks:
        session.echo(f"no host is locked ({session.backend.describe()})")
        return
    rows: list[tuple[str, ...]] = [("HOST", "HOLDER", "RUN", "SINCE", "UNTIL", "NOTE")]
    rows += [tuple(one_line(cell) for cell in (  # others wrote them: no control sequences
        h.host, h.holder.owner, h.holder.run_text, format_time(h.holder.since),
        format_time(h.holder.until), h.holder.note)) for h in locks]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        session.echo("  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row[:5]))
                     + "  " + row[5])
