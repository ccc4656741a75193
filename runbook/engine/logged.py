"""Actions as a host transcript sees them (`hosts.hostlog.HostLog`): each command announced,
its unbounded output streamed through the host's `sink`, its end; each file with its checksum.

Used by `engine.actions` when the run is recorded; without a log the actions call the hosts
exactly as before. Commands of a `run` list go one `host.run` call at a time (same shell, same
rules: the commands after a failed one are skipped), so each gets its own entry.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.results import CommandStatus, RunResult, Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.hostlog import HostLog


async def logged_command(log: HostLog, command: str, kind: str,
                         send: Callable[[], Awaitable[CommandStatus]]) -> CommandStatus:
    """Announce `command`, run it with `send()`, log how it ended (an exception too)."""
    log.command(command, kind=kind)
    try:
        result = await send()
    except BaseException as exc:
        log.command_end(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise
    log.command_end(result.retcode, result.status.word)
    return result


async def run_logged(host: Host, commands: Sequence[str], timeout: float | None,
                     output_limit: int, log: HostLog, *, become: bool | None = None,
                     become_user: str | None = None) -> RunResult:
    """`host.run(commands)` with each command logged and its output streamed to `log`."""
    statuses: list[CommandStatus] = []
    for command in commands:
        if statuses and not statuses[-1].status.is_ok:
            statuses.append(CommandStatus(command, "", Status.Skipped, None))
            log.note(f"not sent (an earlier command failed): {command}")
            continue

        async def send(command: str = command) -> CommandStatus:
            result = await host.run(command, timeout=timeout, output_limit=output_limit,
                                    sink=log.output, become=become, become_user=become_user)
            return result.only

        statuses.append(await logged_command(log, command, "run", send))
    return RunResult.from_statuses(statuses)


async def oneshot_logged(host: Host, command: str, timeout: float | None, output_limit: int,
                         log: HostLog | None, *, become: bool | None = None,
                         become_user: str | None = None) -> CommandStatus:
    """`host.oneshot(command)`, logged when there is a log."""
    if log is None:
        return await host.oneshot(command, timeout=timeout, output_limit=output_limit,
                                  become=become, become_user=become_user)
    return await logged_command(log, command, "oneshot", lambda: host.oneshot(
        command, timeout=timeout, output_limit=output_limit, sink=log.output,
        become=become, become_user=become_user))


def _files(paths: Sequence[str | Path]) -> Iterator[Path]:
    """The regular files of `paths` (`~` expanded), folders walked in name order."""
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def _checksums(paths: Sequence[str | Path]) -> list[tuple[str, int, str]]:
    found: list[tuple[str, int, str]] = []
    for file in _files(paths):
        digest = hashlib.sha256()
        size = 0
        try:
            with file.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        except OSError:
            continue
        found.append((str(file), size, digest.hexdigest()))
    return found


async def log_files(log: HostLog | None, direction: str, paths: Sequence[str | Path]) -> None:
    """Log each file under `paths` (local side) with its size and sha256 (read in a thread)."""
    if log is None:
        return
    for name, size, sha in await asyncio.to_thread(_checksums, paths):
        log.transfer(direction, name, size, sha)
