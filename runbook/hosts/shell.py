"""The persistent shell behind `Host.run`, shared by local and SSH hosts.

One long-lived shell per host runs a command loop (`shelltext.SHELL_COMMAND`): in the login
shell when that is bash, else in `bash --noprofile --norc`, else in `sh`. It reads a random
per-shell marker line first and answers `<marker>:<pid>:` and `<marker>:<watchdog pid or 0>:`;
then each command arrives framed as `<bytes>\\n<command>`, is read whole into `$__runbook_cmd`
(`read -N` under bash, `head -c` under sh) and run as `__runbook_run </dev/null 8>&-`, where
`__runbook_run() { eval "$__runbook_cmd"; }`, so that cwd, exported and shell variables persist
(a function runs in the current shell); then the loop prints `<marker>:<exit status>:`. stdin
of the command is /dev/null (it cannot swallow the shell's input); stderr was merged into
stdout once at start-up (`exec 2>&1`), so the output keeps the order the command wrote it in;
the marker tells where the output ends and carries the real exit status. No tty is used:
nothing is echoed, no prompt. Nothing long is sent as script text: bash reads a script on a
pipe one byte per read call (so that a command reading stdin gets the rest).

The marker travels on file descriptor 8 (`PROTOCOL_FD`), a copy of the channel made at
start-up, not on stdout: a step may redirect the shell's own output (`exec > log 2>&1`, common
in install scripts) and the protocol still works, and the user's file never sees the marker.
fd 8 is closed while a command runs (its children do not inherit it) and the shell restores it
afterwards, so whatever a step does to fd 8 lasts only for that step.

A timeout sends SIGTERM to the shell's process group. The shell traps TERM with `return 143`
(the trap is reset in its children): the running program dies, the shell leaves the function,
so the rest of the command list is abandoned, and the marker arrives with the shell state
intact. If the marker does not come within a grace period the group is killed and the next
command starts a new shell; the result says so.

A shell (and a oneshot) also starts a watchdog: when the SSH session's process (the shell's
parent, or `$__runbook_sess` under sudo) ends while the shell still runs, because runbook was
killed with `kill -9`, its machine died or the network dropped, the watchdog sends SIGTERM to
the shell's process group and SIGKILL 2 s later, so no command keeps running unseen. A
persistent shell's starts in `SHELL_COMMAND`, before the shell reads anything. Under bash it
is one process that sleeps in `read -t 2` on a pty master and looks with builtins; elsewhere
it waits in GNU `tail --pid` (a `kill -0` loop where tail lacks --pid). It ignores the TERM
of a timeout, holds none of the channel's descriptors, is not in the shell's job table (a
step's `wait` does not wait for it), and the shell's EXIT trap ends it when the shell exits
normally. A oneshot's own (`watched_oneshot`) waits for end of input on the channel instead,
and a oneshot beside a persistent shell is guarded by the shell's (`tracked_oneshot`).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from runbook._dataclass import mutable
from runbook._lazyimport import lazy_module
from runbook.errors import ShellDiedError
from runbook.hosts.output import BoundedOutput
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    import asyncio
else:
    asyncio = lazy_module("asyncio")

#: Seconds to wait for the marker after interrupting a timed-out command.
INTERRUPT_GRACE = 3.0
#: Seconds allowed for a new shell to start and answer.
START_TIMEOUT = 15.0

class ShellChannel(Protocol):
    """A running shell process: bytes in, merged bytes out, and its exit status."""

    def write(self, data: bytes) -> None: ...

    async def read(self) -> bytes:
        """Next chunk of output; b'' at end of file."""
        ...

    async def exit_status(self) -> int | None: ...

    def close(self) -> None: ...


#: Sends a signal name ("TERM", "KILL") to a process group on the host.
GroupSignaller = Callable[[int, str], Awaitable[None]]


@mutable
class _Outcome:
    retcode: int | None
    exited: bool


#: What follows a marker on its line: `:<number>:` and the newline.
_MARKER_NUMBER = re.compile(rb":(-?\d+):\n")


class MarkerReader:
    """Reads a channel until `<marker>:<number>:\\n` appears; keeps what follows for next time."""

    def __init__(self, channel: ShellChannel, marker: bytes) -> None:
        self._channel = channel
        self._marker = marker
        self._buffer = bytearray()
        self._scan_from = 0

    def _search(self) -> tuple[int, re.Match[bytes]] | None:
        """Where the first whole marker line in the buffer starts, and its number's match.

        A `bytes.find` of the marker and one precompiled pattern for what follows it: every
        oneshot has a marker of its own, and compiling a pattern for each cost about 0.05 ms
        of runbook's CPU per oneshot (Python's pattern cache holds 512, so they never hit)."""
        start = self._buffer.find(self._marker, self._scan_from)
        while start >= 0:
            number = _MARKER_NUMBER.match(self._buffer, start + len(self._marker))
            if number:
                return start, number
            start = self._buffer.find(self._marker, start + 1)
        return None

    async def until_marker(self, out: BoundedOutput | None = None) -> tuple[bytes, int]:
        """Output up to the marker and the number the marker carries; ShellDiedError at EOF.

        With `out`, the output is streamed into it as it arrives (only a marker-sized tail is
        held back) and b"" is returned: memory stays bounded however much a command prints.
        """
        keep = len(self._marker) + 40  # a marker line may straddle two chunks
        while True:
            found = self._search()
            if found:
                start, match = found
                output, number = bytes(self._buffer[:start]), int(match.group(1))
                del self._buffer[: match.end()]
                self._scan_from = 0
                if out is None:
                    return output, number
                out.write(output)
                return b"", number
            if out is not None and len(self._buffer) > keep:
                flushed = len(self._buffer) - keep
                out.write(bytes(memoryview(self._buffer)[:flushed]))  # one copy, not two
                del self._buffer[:flushed]
            self._scan_from = max(0, len(self._buffer) - keep)
            chunk = await self._channel.read()
            if not chunk:
                raise ShellDiedError
            self._buffer += chunk
            # Not held while waiting for the next read: 500 waiting hosts held 27 MB.
            del chunk

    def take_pending(self, out: BoundedOutput) -> None:
        """Move what was read but not yet given out (the command still ran) into `out`."""
        out.write(bytes(self._buffer))
        self._buffer.clear()
        self._scan_from = 0


class PersistentShell:
    """One shell process and the protocol that runs commands in it, one at a time."""

    def __init__(self, channel: ShellChannel, signal_group: GroupSignaller) -> None:
        self._channel = channel
        self._signal_group = signal_group
        self._marker = f"__runbook_{secrets.token_hex(8)}__"
        self._reader = MarkerReader(channel, self._marker.encode())
        self.pgid: int | None = None
        self.alive = True
        #: True while a command runs: only then does closing need to kill anything.
        self.busy = False
        #: (watchdog pid, shell pid) when the shell's watchdog also guards the session's
        #: oneshots (`shelltext.tracked_oneshot`), else None.
        self.oneshot_guard: tuple[int, int] | None = None

    @classmethod
    async def start(cls, channel: ShellChannel, signal_group: GroupSignaller,
                    timeout: float = START_TIMEOUT) -> PersistentShell:
        """Initialise the shell (merge stderr, trap TERM) and learn its process group id.

        Raises ShellDiedError when the shell ends at once, TimeoutError when it does not answer.
        """
        shell = cls(channel, signal_group)
        channel.write(f"{shell._marker}\n".encode())
        try:
            async with asyncio.timeout(timeout):
                _, pid = await shell._reader.until_marker()
                _, watchdog = await shell._reader.until_marker()
        except (ShellDiedError, TimeoutError):
            channel.close()
            raise
        shell.pgid = pid
        shell.oneshot_guard = (watchdog, pid) if watchdog > 0 else None
        return shell

    async def execute(self, command: str, timeout: float | None,
                      out: BoundedOutput | None = None) -> CommandStatus:
        """Run one command; on timeout interrupt it and keep the shell if it recovers.

        Its output goes into `out` (default: a `BoundedOutput` with the default limit).
        """
        out = out if out is not None else BoundedOutput()
        data = command.encode()
        self._channel.write(f"{len(data)}\n".encode() + data)
        self.busy = True
        try:
            async with asyncio.timeout(timeout):  # not wait_for: no task per command
                outcome = await self._collect(out)
        except TimeoutError:
            return await self._interrupt(command, timeout, out)
        except asyncio.CancelledError:
            await self.kill()
            raise
        finally:
            self.busy = False
        output = out.text()
        status = Status.Success if outcome.retcode == 0 else Status.Failed
        if outcome.exited:
            self.alive = False
            if outcome.retcode is None:
                # No exit status: the connection or the shell was lost, not a command result.
                return lost_mid_command(command, output, "the shell was lost while the command "
                                        "ran (connection dropped or shell killed); the next "
                                        "command starts a new shell")
        return CommandStatus(command, output, status, outcome.retcode)

    async def _collect(self, out: BoundedOutput) -> _Outcome:
        try:
            _, rc = await self._reader.until_marker(out)
        except ShellDiedError:
            rc_exit = await self._channel.exit_status()
            self._reader.take_pending(out)
            return _Outcome(rc_exit, exited=True)
        return _Outcome(rc, exited=False)

    async def _interrupt(self, command: str, timeout: float | None,
                         out: BoundedOutput) -> CommandStatus:
        """Stop a timed-out command: TERM the group, wait for the marker, else kill the shell."""
        note = f"runbook: command timed out after {timeout:g} s"
        if self.pgid is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._signal_group(self.pgid, "TERM"), INTERRUPT_GRACE)
        try:
            outcome = await asyncio.wait_for(self._collect(out), INTERRUPT_GRACE)
        except TimeoutError:
            self._reader.take_pending(out)
            await self.kill()
            note += (" and did not stop; the shell was restarted, "
                     "so shell state (cwd, variables) was reset")
            return CommandStatus(command, _with_note(out.text(), note), Status.Error, None)
        if outcome.exited:
            self.alive = False
            note += "; the shell ended, so shell state (cwd, variables) was reset"
        else:
            note += "; it was interrupted and the shell state was kept"
        return CommandStatus(command, _with_note(out.text(), note), Status.Error,
                             outcome.retcode)

    async def kill(self) -> None:
        """Kill the shell and everything it started; bounded in time."""
        self.alive = False
        if self.pgid is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._signal_group(self.pgid, "KILL"), INTERRUPT_GRACE)
        self._channel.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._channel.exit_status(), INTERRUPT_GRACE)

    def hand_to(self, signal_group: GroupSignaller) -> None:
        """Let `signal_group` interrupt and kill this shell's commands from now on (a spare
        shell started ahead by the connection keeper is taken over by a run's host)."""
        self._signal_group = signal_group

    def closing(self) -> bool:
        """True when the channel is known to be ending (the shell exited, the link went)."""
        probe = getattr(self._channel, "closing", None)
        return bool(probe()) if callable(probe) else False

    def detach(self) -> None:
        """Stop using the shell without killing it: its channel closes, so an idle shell
        exits at end of input (a kept SSH connection outlives the run that used it)."""
        self.alive = False
        self._channel.close()

    async def close(self) -> None:
        """End the shell: kill its process group (commands still running die with it)."""
        await self.kill()


def _with_note(output: str, note: str) -> str:
    sep = "" if not output or output.endswith("\n") else "\n"
    return f"{output}{sep}{note}\n"


def killed_after_timeout(command: str, output: str, timeout: float | None) -> CommandStatus:
    """The result of a oneshot killed for running past `timeout`: its partial output + a note."""
    note = f"runbook: command timed out after {timeout:g} s and was killed"
    return CommandStatus(command, _with_note(output, note), Status.Error, None)


def lost_mid_command(command: str, output: str, what: str) -> CommandStatus:
    """The result of a command whose shell or session ended without an exit status."""
    return CommandStatus(command, _with_note(output, f"runbook: {what}"), Status.Error, None)
