"""`Host`: the contract every host honours (local machine, SSH host).

A host runs commands in one persistent shell (`run`), in fresh processes (`oneshot`), and moves
files (`put` / `get`). Power goes through the host's `power_control`, never through the host
(`PowerMixin`: `power`, `power_status`, `is_reachable`, `wait_until_up`, `wait_until_down`).

Every command and transfer can run as another user through sudo (`become=True`,
`become_user=...`; the host's `become`, `become_user`, `become_password` are the defaults): see
`runbook.hosts.become`. Become `run` uses a second persistent shell per become user.

The shells and marker oneshots behind `run` / `oneshot` are `ShellMixin`'s
(`runbook.hosts.shell_mixin`); the argument checks every host shares are in
`runbook.hosts.contract`. The power protocols live here, on the host side: power imports hosts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from runbook.errors import BecomeError, ConfigError, HostUnreachableError, PowerError
from runbook.hosts.become import Become, check_become_user
from runbook.hosts.contract import check_timeout, command_list, run_in_order
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT, BoundedOutput, OutputSink
from runbook.hosts.power_mixin import PowerMixin
from runbook.hosts.shell_mixin import ShellMixin
from runbook.hosts.transfer import PathLike
from runbook.results import CommandStatus, RunResult, Status

if TYPE_CHECKING:
    from runbook.hosts.hostlog import HostLog
    from runbook.hosts.streams import ConsoleStream

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


class Host(PowerMixin, ShellMixin, ABC):
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
        super().__init__()  # ShellMixin: no shell yet, none running
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

    async def release_connection(self) -> None:
        """Let go of the connection once the run needs the host no more, without killing what
        a step left running on purpose; by default the same as `reset_connection`."""
        await self.reset_connection()

    async def __aenter__(self) -> Host:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"
