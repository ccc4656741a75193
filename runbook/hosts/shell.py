"""The persistent shell behind `Host.run`, shared by local and SSH hosts.

One long-lived `bash --noprofile --norc` (or `sh`) per host reads commands on stdin. Each
command is sent as

    __runbook_cmd='<command>'
    __runbook_step

where, defined once at start-up, `__runbook_step() { __runbook_run </dev/null 8>&-; printf
'<marker>:%d:\\n' "$?" >&8; }` and `__runbook_run() { eval "$__runbook_cmd"; }`, so that cwd,
exported and shell variables persist (a function runs in the current shell); stdin of the
command is /dev/null (it cannot swallow the shell's input); stderr was merged into stdout once
at start-up (`exec 2>&1`), so the output keeps the order the command wrote it in; and the random
per-shell marker tells where the output ends and carries the real exit status. No tty is used:
nothing is echoed, no prompt. What goes on stdin is kept short: bash reads a script on a pipe
one byte per read call (so that a command reading stdin gets the rest), about 1 µs each.

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
normally. A oneshot's (`watched_oneshot`) waits for end of input on the channel instead.
Every process saved here is about 0.75 ms of CPU per host on a 2-core lab machine, where the
hosts' work and runbook's share the cores (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

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

#: The descriptor that carries the protocol's markers (a single digit, so plain `sh` has it too).
PROTOCOL_FD = 8


def quote(text: str) -> str:
    """Quote `text` as one single-quoted POSIX shell word."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


#: The watchdog (module docstring) for any POSIX shell (dash, busybox sh): its pid comes back
#: through a command substitution, so it is nobody's child in the shell. It stops waiting on
#: SIGUSR1 (the EXIT trap), or when the session process `s` is gone; then, if the shell `p`
#: still runs, it kills p's group. The loop without tail asks `ps` last: `kill -0` fails for
#: another user's process too (sudo).
_SH_WATCHDOG = (
    "__runbook_wd=$( (trap '' TERM INT HUP; s=${__runbook_sess:-$PPID} p=$$ t=; "
    "trap 'kill -KILL $t 2>/dev/null; exit 0' USR1; "
    "tail --pid=$s -f /dev/null -s 2 & t=$!; wait $t || "
    "while kill -0 $s || [ -d /proc/$s ] || ps -p $s; do sleep 2 & t=$!; wait $t; done; "
    "trap '' USR1; kill -0 $p || exit 0; kill -TERM -$p; sleep 2; kill -KILL -$p"
    f") </dev/null >/dev/null 2>&1 {PROTOCOL_FD}>&- & echo $!)"
)
#: The same watchdog under bash in one process instead of three: `disown` keeps it out of a
#: step's `wait`, and it sleeps in `read -t 2` on a pty master nobody writes to (no `tail`,
#: no `sleep` fork every 2 s) and looks with builtins. Where no pty can be opened it waits
#: like the POSIX form.
_BASH_WATCHDOG = (
    "(trap '' TERM INT HUP; s=${__runbook_sess:-$PPID} p=$$ t=; "
    "trap 'kill -KILL $t 2>/dev/null; exit 0' USR1; "
    "alive() { [ -d /proc/$s ] || kill -0 $s || ps -p $s; }; "
    # a read that ends before its timeout means this pty does not block: wait as below
    "{ exec 9<>/dev/ptmx; } 2>/dev/null && "
    "while alive && { read -t 2 -u 9; [ $? -gt 128 ]; }; do :; done; "
    "alive && { tail --pid=$s -f /dev/null -s 2 & t=$!; wait $t || "
    "while alive; do sleep 2 & t=$!; wait $t; done; }; "
    "trap '' USR1; kill -0 $p || exit 0; kill -TERM -$p; sleep 2; kill -KILL -$p"
    f") </dev/null >/dev/null 2>&1 {PROTOCOL_FD}>&- & __runbook_wd=$!; disown"
)
#: Shell text that sets the EXIT trap ending the watchdog when the shell ends normally.
ENDS_WATCHDOG = "trap 'kill -USR1 $__runbook_wd 2>/dev/null' EXIT"
#: Shell text that starts the watchdog of the shell that runs it and sets the EXIT trap that
#: ends it (a become oneshot's; a persistent shell's starts in `SHELL_COMMAND`).
WATCHDOG = (
    f'if [ -n "$BASH_VERSION" ]; then {_BASH_WATCHDOG}; else {_SH_WATCHDOG}; fi; '
    f"{ENDS_WATCHDOG}; unset __runbook_sess"
)


#: The persistent shell's set-up and command loop (module docstring), after its watchdog has
#: started. `read -N` (bash) takes the command in one buffered read; `head -c` elsewhere (it
#: never reads past its count; `x` keeps trailing newlines from the command substitution).
_LOOP_BODY = (
    "unset __runbook_sess; set +e +u; exec {fd}>&1 2>&1; {ends}; "
    '__runbook_run() {{ eval "$__runbook_cmd"; }}; '
    "IFS= read -r __runbook_m; trap 'return 143' TERM; "
    "printf '%s:%d:\\n' \"$__runbook_m\" \"$$\" >&{fd}; "
    "while IFS= read -r __runbook_n && {take}; do "
    "__runbook_run </dev/null {fd}>&-; printf '%s:%d:\\n' \"$__runbook_m\" \"$?\" >&{fd}; done"
)
_BASH_TAKE = 'LC_ALL=C IFS= read -r -N "$__runbook_n" __runbook_cmd'
_SH_TAKE = '__runbook_cmd=$(head -c "$__runbook_n"; echo x) && __runbook_cmd=${__runbook_cmd%x}'
_BASH_LOOP = f"{_BASH_WATCHDOG}; " + _LOOP_BODY.format(
    fd=PROTOCOL_FD, ends=ENDS_WATCHDOG, take=_BASH_TAKE)
_SH_LOOP = f"{_SH_WATCHDOG}; " + _LOOP_BODY.format(fd=PROTOCOL_FD, ends=ENDS_WATCHDOG,
                                                  take=_SH_TAKE)
#: What a channel runs for a persistent shell, in the account's login shell: the command loop
#: right there when that is bash (the common case: no second bash to start, about 1.2 ms of
#: CPU per host), else in a clean bash (no rc files), else in `sh`.
SHELL_COMMAND = (
    f'if [ -n "$BASH_VERSION" ]; then {_BASH_LOOP}; exit; fi; '
    f"command -v bash >/dev/null 2>&1 && exec bash --noprofile --norc -c {quote(_BASH_LOOP)}; "
    f"exec sh -c {quote(_SH_LOOP)}"
)


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


def read_script_then_eval(size: int, *, subshell: bool = False) -> str:
    """Shell text that reads the next `size` bytes of stdin (the command, written there by
    the caller), points stdin at /dev/null and stderr at stdout, then runs the command.

    A oneshot's command travels on stdin rather than in `sh -c` / sudo arguments: a command
    line shows in every user's `ps` listing, and a rendered command may hold a secret. With
    `subshell` the command runs in a subshell, so a `trap ... EXIT` of its own does not
    replace the one that ends the `WATCHDOG`.
    """
    run = '(eval "$__runbook_cmd")' if subshell else 'eval "$__runbook_cmd"'
    return f"__runbook_cmd=$(head -c {size}); exec 2>&1 </dev/null; {run}"


def watched_oneshot(size: int) -> str:
    """Shell text for an SSH oneshot run as the login user: read the command (`size` bytes on
    stdin), start its watchdog, run it.

    Under bash the watchdog is one process that waits for end of input on the channel's stdin,
    which nothing else reads once the command is in: it comes when the session ends. If the
    oneshot's shell `p` still runs then (the connection was lost), its group gets SIGTERM and
    SIGKILL 2 s later; after a normal end `p` is gone and nothing is killed. So no EXIT trap,
    no subshell and no `head`: three processes fewer than the POSIX form, which other shells
    get (`WATCHDOG` and `read_script_then_eval`).
    """
    bash = (
        f"LC_ALL=C IFS= read -r -d '' -N {size} __runbook_cmd; "
        "(trap '' TERM INT HUP; p=$$; while read -r _; do :; done; "
        "kill -0 $p || exit 0; kill -TERM -$p; sleep 2; kill -KILL -$p"
        f") <&0 >/dev/null 2>&1 {PROTOCOL_FD}>&- & __runbook_wd=$!; disown; "
        'exec 2>&1 </dev/null; eval "$__runbook_cmd"'
    )
    posix = f"{WATCHDOG}; {read_script_then_eval(size, subshell=True)}"
    return f'if [ -n "$BASH_VERSION" ]; then {bash}; else {posix}; fi'


@dataclass
class _Outcome:
    retcode: int | None
    exited: bool


class MarkerReader:
    """Reads a channel until `<marker>:<number>:\\n` appears; keeps what follows for next time."""

    def __init__(self, channel: ShellChannel, marker: bytes) -> None:
        self._channel = channel
        self._pattern = re.compile(re.escape(marker) + rb":(-?\d+):\n")
        self._buffer = bytearray()
        self._scan_from = 0

    async def until_marker(self, out: BoundedOutput | None = None) -> tuple[bytes, int]:
        """Output up to the marker and the number the marker carries; ShellDiedError at EOF.

        With `out`, the output is streamed into it as it arrives (only a marker-sized tail is
        held back) and b"" is returned: memory stays bounded however much a command prints.
        """
        keep = len(self._pattern.pattern) + 24  # a marker may straddle two chunks
        while True:
            match = self._pattern.search(self._buffer, self._scan_from)
            if match:
                output, number = bytes(self._buffer[: match.start()]), int(match.group(1))
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

    @classmethod
    async def start(cls, channel: ShellChannel, signal_group: GroupSignaller,
                    timeout: float = START_TIMEOUT) -> PersistentShell:
        """Initialise the shell (merge stderr, trap TERM) and learn its process group id.

        Raises ShellDiedError when the shell ends at once, TimeoutError when it does not answer.
        """
        shell = cls(channel, signal_group)
        channel.write(f"{shell._marker}\n".encode())
        try:
            _, pid = await asyncio.wait_for(shell._reader.until_marker(), timeout)
        except (ShellDiedError, TimeoutError):
            channel.close()
            raise
        shell.pgid = pid
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
            outcome = await asyncio.wait_for(self._collect(out), timeout)
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
