"""The call contract every host's `run` / `oneshot` shares: argument checks, list semantics.

Whatever runs a host's commands (a persistent shell, a console line, a network CLI, the
keeper for a `KeptHost`), its `run` and `oneshot` check their arguments and run a list of
commands with these, so every host kind answers bad input and failures alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from runbook._numbers import finite_number
from runbook.errors import ConfigError
from runbook.results import CommandStatus, RunResult, Status


def check_timeout(timeout: float | None) -> None:
    """A timeout is None (no limit) or a positive, finite number of seconds."""
    if timeout is None:
        return
    if not finite_number(timeout) or timeout <= 0:
        raise ConfigError(f"timeout must be a positive number of seconds or None, not {timeout!r}")


def command_list(cmds: str | Sequence[str]) -> list[str]:
    """`run()`'s commands as a list: one string or a sequence of strings (else TypeError)."""
    commands = [cmds] if isinstance(cmds, str) else list(cmds)
    if not all(isinstance(c, str) for c in commands):
        raise TypeError(f"run() takes a command string or a list of them, not {cmds!r}")
    return commands


async def run_in_order(commands: Sequence[str],
                       execute: Callable[[str], Awaitable[CommandStatus]]) -> RunResult:
    """Run `commands` one after another with `execute`; those after a failure are Skipped.

    The list contract every host's `run` shares (persistent shell, console, network CLI).
    """
    statuses: list[CommandStatus] = []
    for command in commands:
        if statuses and not statuses[-1].status.is_ok:
            statuses.append(CommandStatus(command, "", Status.Skipped, None))
            continue
        statuses.append(await execute(command))
    return RunResult.from_statuses(statuses)


def check_command(cmd: object, timeout: float | None) -> None:
    """`oneshot` takes one command string and a valid timeout."""
    if not isinstance(cmd, str):
        raise TypeError(f"oneshot() takes one command string, not {cmd!r}")
    check_timeout(timeout)
