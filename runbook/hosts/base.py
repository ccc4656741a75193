"""`Host`: the contract every host honours (local machine, SSH host).

A host runs commands in one persistent shell (`run`), in fresh processes (`oneshot`), and moves
files (`put` / `get`). Power goes through the host's `power_control`, never through the host
(`PowerMixin`: `power`, `power_status`, `is_reachable`, `wait_until_up`, `wait_until_down`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from runbook.errors import ConfigError, HostUnreachableError
from runbook.hosts.power_mixin import PowerMixin
from runbook.hosts.shell import START_TIMEOUT, PersistentShell, ShellChannel, ShellDied
from runbook.hosts.transfer import PathLike
from runbook.lazyimport import lazy_module
from runbook.results import CommandStatus, RunResult, Status

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.streams import ConsoleStream
    from runbook.lab import Lab
    from runbook.power import PowerController
else:
    asyncio = lazy_module("asyncio")


def check_timeout(timeout: float | None) -> None:
    """A timeout is None (no limit) or a positive, finite number of seconds."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) \
            or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")


def check_command(cmd: object, timeout: float | None) -> None:
    """`oneshot` takes one command string and a valid timeout."""
    if not isinstance(cmd, str):
        raise TypeError(f"oneshot() takes one command string, not {cmd!r}")
    check_timeout(timeout)


class Host(PowerMixin, ABC):
    """Base of `LocalHost` and `RemoteHost`.

    `id` is the lab key; `transport` ("local", "ssh", "telnet", "serial"), `address`, `port` and
    `user` describe how it is reached (shown in templates as `host.address` ...); `vars` are
    the lab's per-host variables; `lab` is the back-reference set by `Lab` so power
    controllers can find their controller host.
    """

    id: str
    #: How the host is reached: "local", "ssh", "telnet" or "serial" (shown by `runbook hosts`).
    transport: str
    address: str
    port: int | None
    user: str | None

    def __init__(self, id: str, *, vars: dict[str, Any] | None = None,
                 power_control: PowerController | None = None) -> None:
        if not isinstance(id, str) or not id:
            raise ConfigError(f"a host id must be a non-empty string, not {id!r}")
        if power_control is not None and not hasattr(power_control, "on"):
            raise ConfigError(f"host {id!r}: power_control must be a PowerController (build one "
                              f"with runbook.power.power_control_from_spec), not {power_control!r}")
        self.id = id
        self.vars: dict[str, Any] = dict(vars or {})
        self.power_control = power_control
        self.lab: Lab | None = None
        self._shell: PersistentShell | None = None
        self._run_lock: asyncio.Lock | None = None  # made on first run: no asyncio at build time

    # -- commands -------------------------------------------------------------------------
    async def run(self, cmds: str | Sequence[str], timeout: float | None = None) -> RunResult:
        """Run command(s) in this host's persistent shell; a list stops at the first failure.

        cwd, exported and shell variables carry over between calls. Concurrent calls are
        serialized. `timeout` bounds each command; the commands after a failed one are Skipped.
        """
        commands = [cmds] if isinstance(cmds, str) else list(cmds)
        if not all(isinstance(c, str) for c in commands):
            raise TypeError(f"run() takes a command string or a list of them, not {cmds!r}")
        check_timeout(timeout)
        statuses: list[CommandStatus] = []
        if self._run_lock is None:
            self._run_lock = asyncio.Lock()
        async with self._run_lock:
            for command in commands:
                if statuses and not statuses[-1].status.is_ok:
                    statuses.append(CommandStatus(command, "", Status.Skipped, None))
                    continue
                shell = await self._get_shell(timeout)
                result = await shell.execute(command, timeout)
                if not shell.alive:
                    await self._drop_shell()
                statuses.append(result)
        return RunResult.from_statuses(statuses)

    async def _get_shell(self, timeout: float | None) -> PersistentShell:
        """The running shell, or a new one; a shell that does not start makes the host unreachable."""
        if self._shell is None or not self._shell.alive:
            channel = await self._open_shell_channel()
            limit = min(START_TIMEOUT, timeout) if timeout else START_TIMEOUT
            try:
                self._shell = await PersistentShell.start(channel, self._signal_group, limit)
            except TimeoutError as exc:
                raise HostUnreachableError(
                    self.id, self.address, f"the shell did not start within {limit:g} s"
                ) from exc
            except ShellDied as exc:
                status = await channel.exit_status()
                raise HostUnreachableError(
                    self.id, self.address, f"the shell ended at start (exit status {status})"
                ) from exc
        return self._shell

    async def _drop_shell(self) -> None:
        shell, self._shell = self._shell, None
        if shell is not None:
            await shell.close()

    @abstractmethod
    async def _open_shell_channel(self) -> ShellChannel:
        """Start a new shell process (`shell.SHELL_COMMAND`) and return its channel."""

    @abstractmethod
    async def _signal_group(self, pgid: int, signal: str) -> None:
        """Send `signal` ("TERM", "KILL") to the process group `pgid` on this host."""

    @abstractmethod
    async def oneshot(self, cmd: str, timeout: float | None = None) -> CommandStatus:
        """Run one command in a fresh process; safe to call concurrently."""

    @abstractmethod
    async def put(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike,
                  mode: int | None = None) -> tuple[Status, str]:
        """Copy local files or folders into the folder `dest_dir` here (created if missing)."""

    @abstractmethod
    async def get(self, src_files: PathLike | Sequence[PathLike],
                  dest_dir: PathLike) -> tuple[Status, str]:
        """Copy files or folders of this host into the local folder `dest_dir` (made if missing)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop the shell and every process started here; drop the connection."""

    async def interact(self, pairs: Sequence[Mapping[str, Any]], timeout: float | None = None,
                       *, pair_timeout: float | None = None,
                       mask: Callable[[str], str] | None = None) -> CommandStatus:
        """Play an expect/send dialog in a fresh terminal session (`runbook.hosts.interact`).

        `pairs` are `{expect: REGEX, send: TEXT, timeout: SECONDS}`; `timeout` bounds the whole
        dialog, `pair_timeout` each pair without its own. Returns the dialog's output (masked
        by `mask`), Failed with the last output when a pattern does not come.
        """
        from runbook.hosts.interact import parse_pairs, run_dialog

        check_timeout(timeout)
        parse_pairs(pairs, pair_timeout)  # bad input fails before anything connects
        stream = await self._open_interact_stream()
        try:
            from runbook.hosts.expect import Expecter

            return await run_dialog(Expecter(stream), pairs, timeout, pair_timeout=pair_timeout,
                                    mask=mask)
        finally:
            await stream.close()

    async def _open_interact_stream(self) -> ConsoleStream:
        """A new terminal session (a pty login shell) for `interact`."""
        raise NotImplementedError(f"{type(self).__name__} offers no terminal for interact")

    async def reset_connection(self) -> None:
        """Drop the cached connection and shell so the next command reconnects (after power changes)."""
        await self.close()

    async def __aenter__(self) -> Host:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"
