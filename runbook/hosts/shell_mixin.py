"""`ShellMixin`: a host's persistent shells and marker oneshots (the `Host` machinery).

`Host.run` goes to one persistent shell for the login user and one per become user, each
started on first use, serialized by its own lock and dropped when it dies. `_marker_oneshot`
runs a command in a fresh channel whose first output line names its process group, so a
timeout, a cancel or `close()` can kill the whole group. A host kind provides the channels
(`_open_shell_channel`, `_open_command_channel`) and the signalling (`_signal_group`).
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_module
from runbook.errors import HostUnreachableError, ShellDiedError
from runbook.hosts.become import Become, authenticate, sudo_command
from runbook.hosts.output import BoundedOutput, drain
from runbook.hosts.shell import (
    INTERRUPT_GRACE,
    START_TIMEOUT,
    GroupSignaller,
    MarkerReader,
    PersistentShell,
    ShellChannel,
    killed_after_timeout,
    lost_mid_command,
)
from runbook.hosts.shelltext import (
    SHELL_COMMAND,
    plain_command,
    posix_oneshot,
    quote,
    read_script_then_eval,
    tracked_oneshot,
    watched_oneshot,
)
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    import asyncio
else:
    asyncio = lazy_module("asyncio")


class ShellMixin(ABC):
    """The persistent shells (login user, become users) and marker oneshots of a host."""

    id: str
    address: str
    port: int | None

    def __init__(self) -> None:
        self._shell: PersistentShell | None = None
        self._run_lock: asyncio.Lock | None = None  # made on first run: no asyncio at build time
        self._become_shells: dict[str, PersistentShell] = {}
        self._become_locks: dict[str, asyncio.Lock] = {}
        #: pgid -> who runs it, for every marker oneshot still running (close() kills them).
        self._running_oneshots: dict[int, Become | None] = {}

    @abstractmethod
    async def _open_shell_channel(self) -> ShellChannel:
        """Start a new shell process (`shell.SHELL_COMMAND`) and return its channel."""

    @abstractmethod
    async def _signal_group(self, pgid: int, signal: str) -> None:
        """Send `signal` ("TERM", "KILL") to the process group `pgid` on this host."""

    # -- persistent shells ----------------------------------------------------------------
    def _shell_lock(self, who: Become | None) -> asyncio.Lock:
        """The lock serializing commands of one shell (the login shell or a become user's)."""
        if who is not None:
            return self._become_locks.setdefault(who.user, asyncio.Lock())
        if self._run_lock is None:
            self._run_lock = asyncio.Lock()
        return self._run_lock

    async def _get_shell(self, timeout: float | None, who: Become | None = None) -> PersistentShell:
        """The running shell, or a new one; a shell that does not start makes the host unreachable."""
        current = self._shell if who is None else self._become_shells.get(who.user)
        if current is None or not current.alive:
            limit = min(START_TIMEOUT, timeout) if timeout else START_TIMEOUT
            signaller: GroupSignaller = self._signal_group
            if who is None:
                channel = await self._open_shell_channel()
            else:
                channel = await self._open_become_channel(who, SHELL_COMMAND)
                signaller = functools.partial(self._signal_group_as, who)
            try:
                current = await PersistentShell.start(channel, signaller, limit)
            except TimeoutError as exc:
                raise HostUnreachableError(
                    self.id, self.address, f"the shell did not start within {limit:g} s",
                    port=self.port,
                ) from exc
            except ShellDiedError as exc:
                status = await channel.exit_status()
                raise HostUnreachableError(
                    self.id, self.address, f"the shell ended at start (exit status {status})",
                    port=self.port,
                ) from exc
            if who is None:
                self._shell = current
            else:
                self._become_shells[who.user] = current
        return current

    async def _drop_shell(self, who: Become | None = None) -> None:
        if who is None:
            shell, self._shell = self._shell, None
        else:
            shell = self._become_shells.pop(who.user, None)
        if shell is not None:
            await shell.close()

    async def _drop_become_shells(self, *, kill_idle: bool = False) -> None:
        """Forget every become shell; a busy one (or any, with `kill_idle`) is killed first.

        Killing goes through another sudo (bounded). An idle shell on SSH needs no kill: it
        ends when the connection closes; a local one is a child process and must be ended.
        """
        shells, self._become_shells = self._become_shells, {}
        for shell in shells.values():
            if shell.alive and (shell.busy or kill_idle):
                await shell.close()
            shell.alive = False

    # -- become ---------------------------------------------------------------------------
    async def _open_command_channel(self, command: str) -> ShellChannel:
        """Start the POSIX shell command string `command` here and return its channel."""
        raise NotImplementedError(f"host {self.id!r} cannot start commands for become")

    async def _open_become_channel(self, who: Become, inner: str) -> ShellChannel:
        """A channel running the shell code `inner` as `who.user`, past sudo's password prompt."""
        sudo = sudo_command(who.user, inner)
        channel = await self._open_command_channel(sudo.command)
        return await authenticate(channel, sudo, who, self.id)

    async def _signal_group_as(self, who: Become, pgid: int, signal_name: str) -> None:
        """Signal a process group of the become user (through another sudo; bounded)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._marker_oneshot(
                f"kill -{signal_name} -{pgid} 2>/dev/null", INTERRUPT_GRACE, who,
                signal_on_timeout=False, watch=False), INTERRUPT_GRACE * 2)

    @contextlib.asynccontextmanager
    async def _command_slot(self) -> AsyncIterator[None]:
        """Held while a oneshot runs; hosts with a channel limit override it."""
        yield

    async def _marker_oneshot(self, cmd: str, timeout: float | None, who: Become | None, *,
                              signal_on_timeout: bool = True, watch: bool = True,
                              out: BoundedOutput | None = None) -> CommandStatus:
        """Run `cmd` in a fresh channel, as `who` if given; the first line out carries its pgid.

        The command string prints a random marker with its pid (the group leader: sshd or
        setsid made it one), so a timeout or cancel can kill the whole group; a watchdog kills
        it when the session ends under it (`shelltext`; not with `watch=False`: a
        short kill command needs none, and must start fast). The output
        goes into `out` (default: bounded at the default limit).
        """
        out = out if out is not None else BoundedOutput()
        marker = f"__runbook_{secrets.token_hex(6)}__"
        script = cmd.encode()
        guard = self._shell.oneshot_guard if self._shell is not None and self._shell.alive else None
        inner = (f"printf '%s:%d:\\n' {quote(marker)} \"$$\"; "
                 f"{_oneshot_body(cmd, watch=watch, become=who is not None, guard=guard)}")
        signal = self._signal_group if who is None else functools.partial(self._signal_group_as, who)
        async with self._command_slot():
            channel = await (self._open_command_channel(inner) if who is None
                             else self._open_become_channel(who, inner))
            channel.write(script)  # on stdin: a command line is in every `ps` listing
            reader = MarkerReader(channel, marker.encode())
            pgid: int | None = None

            async def collect() -> None:
                nonlocal pgid
                try:
                    _, pgid = await reader.until_marker()
                except ShellDiedError:
                    return
                self._running_oneshots[pgid] = who
                reader.take_pending(out)
                await drain(channel.read, out)

            try:
                async with asyncio.timeout(timeout):  # not wait_for: no task per oneshot
                    await collect()
            except TimeoutError:
                if pgid is not None and signal_on_timeout:
                    await signal(pgid, "KILL")
                channel.close()
                # Hold the slot until the channel is released on the other side too.
                await channel.exit_status()
                return killed_after_timeout(cmd, out.text(), timeout)
            except asyncio.CancelledError:
                if pgid is not None:
                    await asyncio.shield(signal(pgid, "KILL"))
                channel.close()
                raise
            finally:
                if pgid is not None:
                    self._running_oneshots.pop(pgid, None)
            rc = await channel.exit_status()
        if rc is None:
            return lost_mid_command(cmd, out.text(), self._session_lost())
        return CommandStatus(cmd, out.text(), Status.Success if rc == 0 else Status.Failed, rc)

    def _session_lost(self) -> str:
        """What a oneshot whose channel ended without an exit status says happened."""
        return "the command's session ended without an exit status (connection lost)"

    async def _kill_running_oneshots(self) -> list[int]:
        """Kill the become oneshots still running; return the pgids of the login user's."""
        plain = [pgid for pgid, who in self._running_oneshots.items() if who is None]
        for pgid, who in list(self._running_oneshots.items()):
            if who is not None:
                await self._signal_group_as(who, pgid, "KILL")
        return plain


def _oneshot_body(cmd: str, *, watch: bool, become: bool,
                  guard: tuple[int, int] | None) -> str:
    """Shell text that reads a oneshot's command `cmd` from stdin and runs it: as the login
    user guarded by the persistent shell's watchdog (`guard`) or else its own cheapest one
    (a `plain_command` by `exec`), under sudo (whose stdin may be a relay) with the POSIX
    watchdog, and with none at all for runbook's own short kill commands (`watch=False`)."""
    size = len(cmd.encode())
    if not watch:
        return read_script_then_eval(size)
    if become:
        return posix_oneshot(size)
    plain = plain_command(cmd)
    if guard is None:
        return watched_oneshot(size, plain=plain)
    return tracked_oneshot(size, *guard, plain=plain)
