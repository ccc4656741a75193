"""`Host`: the contract every host honours (local machine, SSH host).

A host runs commands in one persistent shell (`run`), in fresh processes (`oneshot`), and moves
files (`put` / `get`). Power goes through the host's `power_control`, never through the host
(`PowerMixin`: `power`, `power_status`, `is_reachable`, `wait_until_up`, `wait_until_down`).

Every command and transfer can run as another user through sudo (`become=True`,
`become_user=...`; the host's `become`, `become_user`, `become_password` are the defaults): see
`runbook.hosts.become`. Become `run` uses a second persistent shell per become user.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from runbook._lazyimport import lazy_module
from runbook._numbers import finite_number
from runbook.errors import (
    BecomeError,
    ConfigError,
    HostUnreachableError,
    PowerError,
    ShellDiedError,
)
from runbook.hosts.become import Become, authenticate, check_become_user, sudo_command
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT, BoundedOutput, OutputSink, drain
from runbook.hosts.power_mixin import PowerMixin
from runbook.hosts.shell import (
    INTERRUPT_GRACE,
    SHELL_COMMAND,
    START_TIMEOUT,
    GroupSignaller,
    MarkerReader,
    PersistentShell,
    ShellChannel,
    killed_after_timeout,
    lost_mid_command,
    quote,
    read_script_then_eval,
)
from runbook.hosts.transfer import PathLike
from runbook.results import CommandStatus, RunResult, Status

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.hostlog import HostLog
    from runbook.hosts.streams import ConsoleStream
else:
    asyncio = lazy_module("asyncio")

POWER_ACTIONS = ("on", "off", "cycle")


class PowerState(Enum):
    """A host's power state as reported by a controller."""

    ON = "on"
    OFF = "off"

    def __str__(self) -> str:
        return self.value


class HostGroup(Protocol):
    """The lab a host belongs to, as the host sees it (`Lab` is one): hosts by id."""

    def __getitem__(self, host_id: str) -> Host: ...
    def __contains__(self, host_id: object) -> bool: ...


HostResolver = Callable[[str], "Host"]
"""Finds a lab host by id (a `Lab` hands its own lookup to its hosts' power controllers)."""


@runtime_checkable
class PowerControl(Protocol):
    """What a host needs of its `power_control`; `runbook.power.PowerController` implements it.

    Defined here, on the host side, so hosts never import the power package (power imports hosts).
    """

    async def on(self, host: Host) -> tuple[Status, str]: ...
    async def off(self, host: Host) -> tuple[Status, str]: ...
    async def cycle(self, host: Host) -> tuple[Status, str]: ...
    async def status(self, host: Host) -> PowerState | None: ...
    def use_host_resolver(self, resolve: HostResolver) -> None: ...
    def describe(self, host: Host, action: str) -> str: ...


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


class Host(PowerMixin, ABC):
    """Base of `LocalHost` and `RemoteHost`.

    `id` is the lab key; `transport` ("local", "ssh", "telnet", "serial"), `address`, `port` and
    `user` describe how it is reached (shown in templates as `host.address` ...); `vars` are
    the lab's per-host variables; `power_control` powers it from elsewhere (a `Lab` lets its
    controller find controller hosts by id); `lab` is the lab holding the host, set by `Lab`.
    """

    id: str
    #: How the host is reached: "local", "ssh", "telnet" or "serial" (shown by `runbook hosts`).
    transport: str
    address: str
    port: int | None
    user: str | None

    def __init__(self, id: str, *, vars: dict[str, Any] | None = None,
                 power_control: PowerControl | None = None, become: bool = False,
                 become_user: str = "root", become_password: str | None = None) -> None:
        if not isinstance(id, str) or not id:
            raise ConfigError(f"a host id must be a non-empty string, not {id!r}")
        if power_control is not None and not isinstance(power_control, PowerControl):
            raise ConfigError(f"host {id!r}: power_control must be a PowerController (build one "
                              f"with runbook.power.power_control_from_spec), not {power_control!r}")
        if not isinstance(become, bool):
            raise ConfigError(f"host {id!r}: become must be true or false, not {become!r}")
        try:
            check_become_user(become_user)
        except ValueError as exc:
            raise ConfigError(f"host {id!r}: {exc}") from None
        if become_password is not None and (not isinstance(become_password, str)
                                            or "\n" in become_password):
            raise ConfigError(f"host {id!r}: become_password must be a string of one line")
        self.id = id
        #: Defaults for `become` / `become_user` of every call; the password for sudo.
        self.become = become
        self.become_user = become_user
        self.become_password = become_password
        self.vars: dict[str, Any] = dict(vars or {})
        self.power_control = power_control
        self.lab: HostGroup | None = None
        self._shell: PersistentShell | None = None
        self._run_lock: asyncio.Lock | None = None  # made on first run: no asyncio at build time
        self._become_shells: dict[str, PersistentShell] = {}
        self._become_locks: dict[str, asyncio.Lock] = {}
        #: pgid -> who runs it, for every marker oneshot still running (close() kills them).
        self._running_oneshots: dict[int, Become | None] = {}
        #: Told about connection events (connect, reconnect) in words: a run's transcript.
        self.notes: Callable[[str], None] | None = None
        #: The run's transcript, for what a console line brings outside commands (a login).
        self.transcript: HostLog | None = None

    def become_for(self, become: bool | None = None,
                   become_user: str | None = None) -> Become | None:
        """Whom a call runs as: None for the login user, else the `Become` to use.

        `become=None` takes the host's `become`; `become_user=None` the host's `become_user`.
        """
        if not (self.become if become is None else become):
            return None
        return Become(check_become_user(become_user or self.become_user), self.become_password)

    @property
    def endpoint(self) -> str:
        """`address:port` (`[v6]:port`), or the address alone when there is no port."""
        return HostUnreachableError(self.id, self.address, "", port=self.port).endpoint

    def refuse_become(self, become: bool | None, become_user: str | None, why: str) -> None:
        """Raise `BecomeError` when a call asks for become on a host that cannot (`why`)."""
        who = self.become_for(become, become_user)
        if who is not None:
            raise BecomeError(self.id, who.user, why)

    # -- commands -------------------------------------------------------------------------
    async def run(self, cmds: str | Sequence[str], timeout: float | None = None, *,
                  become: bool | None = None, become_user: str | None = None,
                  output_limit: int = DEFAULT_OUTPUT_LIMIT,
                  sink: OutputSink | None = None) -> RunResult:
        """Run command(s) in this host's persistent shell; a list stops at the first failure.

        cwd, exported and shell variables carry over between calls. Concurrent calls are
        serialized. `timeout` bounds each command; the commands after a failed one are Skipped.
        With become, they run in the become user's own persistent shell (its state carries
        over between become calls); sudo failing raises `BecomeError`.
        Each command keeps the first and last `output_limit` bytes of its output (0: all);
        `sink` gets every chunk of every command's output, unbounded.
        """
        commands = command_list(cmds)
        check_timeout(timeout)
        who = self.become_for(become, become_user)
        BoundedOutput(output_limit)  # refuse a bad limit before anything runs

        async def execute(command: str) -> CommandStatus:
            shell = await self._get_shell(timeout, who)
            result = await shell.execute(command, timeout, BoundedOutput(output_limit, sink))
            if not shell.alive:
                await self._drop_shell(who)
            return result

        async with self._shell_lock(who):
            return await run_in_order(commands, execute)

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
                signal_on_timeout=False), INTERRUPT_GRACE * 2)

    @contextlib.asynccontextmanager
    async def _command_slot(self) -> AsyncIterator[None]:
        """Held while a oneshot runs; hosts with a channel limit override it."""
        yield

    async def _marker_oneshot(self, cmd: str, timeout: float | None, who: Become | None, *,
                              signal_on_timeout: bool = True,
                              out: BoundedOutput | None = None) -> CommandStatus:
        """Run `cmd` in a fresh channel, as `who` if given; the first line out carries its pgid.

        The command string prints a random marker with its pid (the group leader: sshd or
        setsid made it one), so a timeout or cancel can kill the whole group. The output
        goes into `out` (default: bounded at the default limit).
        """
        out = out if out is not None else BoundedOutput()
        marker = f"__runbook_{secrets.token_hex(6)}__"
        script = cmd.encode()
        inner = (f"printf '%s:%d:\\n' {quote(marker)} \"$$\"; "
                 f"{read_script_then_eval(len(script))}")
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
                await asyncio.wait_for(collect(), timeout)
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

    @abstractmethod
    async def _open_shell_channel(self) -> ShellChannel:
        """Start a new shell process (`shell.SHELL_COMMAND`) and return its channel."""

    @abstractmethod
    async def _signal_group(self, pgid: int, signal: str) -> None:
        """Send `signal` ("TERM", "KILL") to the process group `pgid` on this host."""

    @abstractmethod
    async def oneshot(self, cmd: str, timeout: float | None = None, *,
                      become: bool | None = None, become_user: str | None = None,
                      output_limit: int = DEFAULT_OUTPUT_LIMIT,
                      sink: OutputSink | None = None) -> CommandStatus:
        """Run one command in a fresh process (through sudo with become); safe concurrently.
        Output is bounded like `run`'s."""

    @abstractmethod
    async def put(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike,
                  mode: int | None = None, *, become: bool | None = None,
                  become_user: str | None = None) -> tuple[Status, str]:
        """Copy local files or folders into the folder `dest_dir` here (created if missing).

        With become, the items end up owned by the become user (see `become_files.become_put`).
        """

    @abstractmethod
    async def get(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike, *,
                  become: bool | None = None, become_user: str | None = None
                  ) -> tuple[Status, str]:
        """Copy files or folders of this host into the local folder `dest_dir` (made if missing).

        With become, they are read as the become user (`become_files.become_get`).
        """

    @abstractmethod
    async def close(self) -> None:
        """Stop the shell and every process started here; drop the connection."""

    async def power(self, action: str) -> tuple[Status, str]:
        """Run `on`, `off` or `cycle` through this host's power controller.

        Failures of the controller come back as a non-ok Status with a message; a host without
        `power_control` or an unknown action raises PowerError.
        """
        if action not in POWER_ACTIONS:
            raise PowerError(f"unknown power action {action!r} for host {self.id!r}; "
                             f"use one of: {', '.join(POWER_ACTIONS)} (or power_status())")
        controller = self._power_controller()
        try:
            if action == "on":
                return await controller.on(self)
            if action == "off":
                return await controller.off(self)
            return await controller.cycle(self)
        finally:
            # Even a failed attempt may have reset the host: never reuse the old session.
            await self.reset_connection()

    async def power_status(self) -> PowerState | None:
        """The host's power state from its controller; None when the controller cannot tell.

        Raises PowerError when the host has no controller or its status query fails.
        """
        return await self._power_controller().status(self)

    def _power_controller(self) -> PowerControl:
        if self.power_control is None:
            raise PowerError(f"host {self.id!r} has no power control: add a `power_control` "
                             f"entry for it in the lab file (see docs/power.md)")
        return self.power_control

    async def interact(self, pairs: Sequence[Mapping[str, Any]], timeout: float | None = None,
                       *, pair_timeout: float | None = None,
                       mask: Callable[[str], str] | None = None,
                       log: HostLog | None = None) -> CommandStatus:
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
                                    mask=mask, log=log)
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
